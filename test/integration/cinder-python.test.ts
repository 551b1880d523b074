/**
 * The Cinder driver's Python tests (plugins/openstack-cinder/python/tests), run by Debian's
 * /usr/bin/python3 against Debian's Cinder (Zed): one node:test per Python module. Each gets an
 * emulator and an agent in this process (so Python runs asynchronously: a synchronous child would
 * freeze both), and passes their addresses to Python in LV_TEST_* variables:
 *
 * - test_driver: the shim alone (mocked transport, stand-in processes);
 * - test_contract: the shim against the real TypeScript operations through the agent, and the
 *   emulator's REST API and device files for every check;
 * - test_manager: Cinder's real VolumeManager (sqlite, taskflow, attachments) driving the shim;
 * - test_service: a real cinder-volume process started from a cinder.conf.
 *
 * The Python side fails rather than skips when a variable is missing.
 *
 * The first three modules run in one interpreter (one emulator and agent for the three): importing
 * Cinder costs a core about two seconds per interpreter. Each node:test still judges its own
 * module, from the per-module summary tests/run_modules.py writes: the expected number of its tests
 * ok, none skipped, failed or in error. test_service starts cinder-volume and has an interpreter
 * of its own.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { startAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { repoRoot } from '../helpers/paths.js'

const root = repoRoot()
const PYTHON = '/usr/bin/python3'
const PACKAGE = join(root, 'plugins', 'openstack-cinder', 'python')
const CLI = join(root, 'dist', 'linstor-virt.js')
const NODES = ['alpha', 'bravo', 'charlie', 'delta']

/** tests/run_modules.py's summary: per module, the ids of its tests by outcome ('ok', 'failed', 'errors', 'skipped', ...). */
type Summary = Record<string, Record<string, string[]> & { ok: string[] }>

interface PythonRun {
  code: number | null
  stdout: string
  stderr: string
  summary: Summary
}

/** The emulator's device root of a node as a template: the node's own folder name becomes {node}. */
function deviceRootTemplate(deviceRoot: (node: string) => string): string {
  const alpha = deviceRoot('alpha')
  assert.ok(alpha.endsWith('/alpha'), `device root ${alpha} ends with the node name`)
  const template = alpha.slice(0, -'alpha'.length) + '{node}'
  for (const n of NODES) assert.equal(template.replaceAll('{node}', n), deviceRoot(n), `device root of ${n}`)
  return template
}

async function runPython(t: TestContext, modules: readonly string[], timeoutMs: number): Promise<PythonRun> {
  assert.ok(existsSync(CLI), `${CLI} is built (npm test builds it first)`)
  const emu = await withEmulator(t, { cloneDurationMs: 50 })
  const dir = tempDir(t, 'lv-cinder-py-')
  const lockDir = join(dir, 'locks')
  mkdirSync(lockDir)
  const socketPath = join(dir, 'agent.sock')
  const agent = await startAgent({ socketPath, dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  t.after(() => agent.close())
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    LANG: 'C.UTF-8',
    PYTHONPATH: PACKAGE,
    PYTHONDONTWRITEBYTECODE: '1',
    LV_TEST_CONTROLLERS: emu.url,
    LV_TEST_EMULATOR_URL: emu.url,
    LV_TEST_AGENT_SOCKET: socketPath,
    LV_TEST_CLI_NODE: process.execPath,
    LV_TEST_CLI: CLI,
    LV_TEST_TMP: dir,
    LINSTOR_VIRT_DEVICE_ROOT: deviceRootTemplate((n) => emu.deviceRoot(n)),
    LINSTOR_VIRT_LOCK_DIR: lockDir,
  }
  return new Promise((resolve) => {
    execFile(
      PYTHON,
      ['-m', 'tests.run_modules', join(dir, 'summary.json'), ...modules.map((m) => `tests.${m}`)],
      { cwd: PACKAGE, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
        let summary: Summary
        try {
          summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Summary
        } catch {
          summary = {} // no summary written (the interpreter failed early): judged as no verdicts
        }
        resolve({ code, stdout, stderr, summary })
      },
    )
  })
}

/** Checks the verdict on one module: `expected` tests, each ok (so nothing skipped, failed or in error). */
function judge(r: PythonRun, modules: readonly string[], module: string, expected: number): string {
  const out = r.stderr // unittest writes its report on stderr
  const ran = /^Ran (\d+) tests? in ([\d.]+)s$/m.exec(out)
  const detail = `python3 -m tests.run_modules ${modules.map((m) => `tests.${m}`).join(' ')}: exit ${r.code}\n--- stderr ---\n${out.slice(-60_000)}\n--- stdout ---\n${r.stdout.slice(-8_000)}`
  assert.ok(ran !== null, `no unittest summary\n${detail}`)
  const verdicts = r.summary[`tests.${module}`]
  assert.ok(verdicts !== undefined, `no verdicts for tests.${module}\n${detail}`)
  const { ok, ...others } = verdicts
  assert.deepEqual(Object.entries(others).filter(([, tests]) => tests.length > 0), [], `tests.${module}: not all ok (nothing may be skipped either)\n${detail}`)
  assert.equal(ok.length, expected, `tests.${module}: ${ok.length} tests ok, expected ${expected}\n${detail}`)
  // Nothing outside the modules asked for (an import that failed is reported under unittest.loader).
  assert.deepEqual(Object.keys(r.summary).filter((m) => !modules.some((x) => `tests.${x}` === m)), [], `verdicts outside the modules\n${detail}`)
  return ran[2] ?? '?'
}

/** Runs one Python test module and checks unittest's verdict. */
async function pythonModule(t: TestContext, module: string, expected: number, timeoutMs = 150_000): Promise<void> {
  const started = Date.now()
  const r = await runPython(t, [module], timeoutMs)
  const seconds = judge(r, [module], module, expected)
  assert.equal(r.code, 0, `tests.${module}: exit ${r.code}`)
  t.diagnostic(`tests.${module}: ${expected} tests OK in ${seconds} s (${Date.now() - started} ms with the emulator and agent)`)
}

/** The modules that share one interpreter, with what each covers and the number of tests it has. */
const SHARED: readonly { module: string; expected: number; covers: string }[] = [
  { module: 'test_driver', expected: 33, covers: 'cinder shim unit tests: Cinder objects and config, mocked transport, stand-in agent and CLI' },
  { module: 'test_contract', expected: 20, covers: 'cinder shim contract: the driver against the TypeScript operations and the emulator' },
  { module: 'test_manager', expected: 7, covers: 'cinder VolumeManager: the real manager, sqlite and flows, driving the shim' },
]

test('cinder shim modules in one interpreter: each module judged by its own verdicts', async (t) => {
  const modules = SHARED.map((s) => s.module)
  const r = await runPython(t, modules, 300_000)
  // The exit status covers all three modules: each subtest judges its module by its own verdicts.
  for (const { module, expected, covers } of SHARED) {
    await t.test(`${covers} (tests.${module})`, (st) => {
      judge(r, modules, module, expected)
      st.diagnostic(`tests.${module}: ${expected} tests OK (one interpreter for ${modules.join(', ')})`)
    })
  }
})

test('cinder-volume start-up smoke (tests.test_service): a real cinder-volume process with a [lv-1] backend', async (t) => {
  await pythonModule(t, 'test_service', 2)
})
