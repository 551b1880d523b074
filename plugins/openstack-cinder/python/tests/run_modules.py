"""Runs several test modules in one interpreter (importing Cinder costs a core about two seconds
per interpreter) and tells each module's verdicts apart.

    python3 -m tests.run_modules SUMMARY_FILE tests.test_driver tests.test_contract ...

unittest's verbose report goes to stderr as with ``python3 -m unittest -v``; SUMMARY_FILE gets one
JSON object: for each module, the names of its tests that passed, failed, erred, were skipped or
had an (un)expected failure. The exit status is 0 only when every test of every module passed.
"""
import json
import sys
import unittest


class _Result(unittest.TextTestResult):
    """Records the tests that passed (the base class keeps only the others)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = []

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed.append(test)


def main(argv):
    summary_file, modules = argv[0], argv[1:]
    suite = unittest.defaultTestLoader.loadTestsFromNames(modules)
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=_Result).run(suite)
    kinds = ('ok', 'failed', 'errors', 'skipped', 'expected_failures', 'unexpected_successes')
    summary = {m: {k: [] for k in kinds} for m in modules}
    outcomes = [('ok', t) for t in result.passed]
    outcomes += [('failed', t) for t, _ in result.failures] + [('errors', t) for t, _ in result.errors]
    outcomes += [('skipped', t) for t, _ in result.skipped]
    outcomes += [('expected_failures', t) for t, _ in result.expectedFailures]
    outcomes += [('unexpected_successes', t) for t in result.unexpectedSuccesses]
    for kind, test in outcomes:
        # A class or module fixture that failed is reported as an _ErrorHolder named after it; its
        # tests never ran, so the module comes up short of its expected number of ok tests.
        module = getattr(type(test), '__module__', '?')
        if module == 'unittest.suite' or module == 'unittest.loader':
            module = next((m for m in modules if m in str(test)), module)
        summary.setdefault(module, {k: [] for k in kinds})[kind].append(test.id())
    with open(summary_file, 'w') as f:
        json.dump(summary, f)
    return 0 if result.wasSuccessful() and not result.skipped else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
