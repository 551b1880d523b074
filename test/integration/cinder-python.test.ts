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
 * The Python side fails rather than skips when a variable is missing, and the summary must say OK
 * for exactly the expected number of tests, none skipped.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
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

interface PythonRun {
  code: number | null
  stdout: string
  stderr: string
}

/** The emulator's device root of a node as a template: the node's own folder name becomes {node}. */
function deviceRootTemplate(deviceRoot: (node: string) => string): string {
  const alpha = deviceRoot('alpha')
  assert.ok(alpha.endsWith('/alpha'), `device root ${alpha} ends with the node name`)
  const template = alpha.slice(0, -'alpha'.length) + '{node}'
  for (const n of NODES) assert.equal(template.replaceAll('{node}', n), deviceRoot(n), `device root of ${n}`)
  return template
}

async function runPython(t: TestContext, module: string, timeoutMs: number): Promise<PythonRun> {
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
      ['-m', 'unittest', '-v', `tests.${module}`],
      { cwd: PACKAGE, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** Runs one Python test module and checks unittest's verdict: exit 0, OK, `expected` tests, no skips. */
async function pythonModule(t: TestContext, module: string, expected: number, timeoutMs = 150_000): Promise<void> {
  const started = Date.now()
  const r = await runPython(t, module, timeoutMs)
  const out = r.stderr // unittest writes its report on stderr
  const ran = /^Ran (\d+) tests? in ([\d.]+)s$/m.exec(out)
  const verdict = /^(OK|FAILED)(?: \((.*)\))?$/m.exec(out)
  const detail = `python3 -m unittest tests.${module}: exit ${r.code}\n--- stderr ---\n${out.slice(-60_000)}\n--- stdout ---\n${r.stdout.slice(-8_000)}`
  assert.equal(r.code, 0, detail)
  assert.ok(ran !== null && verdict !== null, `no unittest summary\n${detail}`)
  assert.equal(verdict[1], 'OK', detail)
  assert.equal(verdict[2], undefined, `nothing skipped or expected to fail\n${detail}`)
  assert.doesNotMatch(out, /\.\.\. skipped/, `nothing skipped\n${detail}`)
  assert.equal(Number(ran[1]), expected, `tests.${module} ran ${ran[1]} tests, expected ${expected}\n${detail}`)
  t.diagnostic(`tests.${module}: ${ran[1]} tests OK in ${ran[2]} s (${Date.now() - started} ms with the emulator and agent)`)
}

test('cinder shim unit tests (tests.test_driver): Cinder objects and config, mocked transport, stand-in agent and CLI', async (t) => {
  await pythonModule(t, 'test_driver', 33)
})

test('cinder shim contract (tests.test_contract): the driver against the TypeScript operations and the emulator', async (t) => {
  await pythonModule(t, 'test_contract', 20)
})

test('cinder VolumeManager (tests.test_manager): the real manager, sqlite and flows, driving the shim', async (t) => {
  await pythonModule(t, 'test_manager', 7)
})

test('cinder-volume start-up smoke (tests.test_service): a real cinder-volume process with a [lv-1] backend', async (t) => {
  await pythonModule(t, 'test_service', 2)
})
