"""Runs LINBIT's `linstor` command line many times in one interpreter, unchanged: each JSON line
on stdin is one command's arguments; the command runs through the client's own entry
(LinStorCLI().run(), which parses sys.argv and ends in sys.exit) with its stdout and stderr caught,
and one JSON line {code, stdout, stderr} answers it. An exception the client does not catch is
printed as Python prints it, with exit code 1, as a process of its own would end.

This only saves the interpreter's start per command (the test suite runs on a 2-core machine);
the exit codes of separate processes are still checked by a test that runs the real executable.
"""
import io
import json
import sys
import traceback


class Switch(object):
    """A stream that writes to whichever buffer the current command has: the client binds
    sys.stdout at import in places (a default argument), so the object itself must stay."""

    def __init__(self, name):
        self.target = io.StringIO()
        self.name = name

    def __getattr__(self, attr):
        return getattr(self.target, attr)

    def write(self, text):
        return self.target.write(text)

    def flush(self):
        return None

    def isatty(self):
        return False


CHANNEL = sys.stdout
OUT, ERR = Switch('<stdout>'), Switch('<stderr>')
sys.stdout, sys.stderr = OUT, ERR

import linstor_client_main  # noqa: E402  (after the switch, so it binds the switch)


def run(args):
    out, err = io.StringIO(), io.StringIO()
    OUT.target, ERR.target = out, err
    real = sys.argv
    sys.stdout, sys.stderr = OUT, ERR
    sys.argv = ['linstor'] + args
    code = 0
    try:
        linstor_client_main.LinStorCLI().run()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, int) and e.code is not None:
            err.write(str(e.code) + '\n')
    except BaseException:  # what Python would print before exiting 1
        traceback.print_exc(file=err)
        code = 1
    finally:
        sys.argv = real
    return {'code': code, 'stdout': out.getvalue(), 'stderr': err.getvalue()}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = run(json.loads(line))
        CHANNEL.write(json.dumps(reply) + '\n')
        CHANNEL.flush()


if __name__ == '__main__':
    main()
