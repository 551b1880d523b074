import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { DEFAULT_CLUSTER, loadClusterFile, parseClusterSpec, startEmulator } from '../../emulator/index.js'
import { repoRoot } from '../helpers/paths.js'
import { getJson, ok, open, placedResource, raw, read, write } from './helpers.js'

/**
 * Runs `linstor-virt emulator ARGS` the way the project's dispatcher does: import emulator/cli.js
 * and call run(args); the exit code becomes the process's. (Spawned through `node -e` so the test
 * does not depend on cli/main.ts wiring.)
 */
function spawnCli(args: string[]): ReturnType<typeof spawn> {
  const cliModule = path.join(repoRoot(), 'build', 'emulator', 'cli.js')
  const code = `import(${JSON.stringify(cliModule)}).then((m) => m.run(process.argv.slice(1))).then((c) => { process.exitCode = c }, (e) => { console.error(e); process.exitCode = 1 })`
  return spawn(process.execPath, ['-e', code, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emu-test-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('state survives a restart on the same state directory, data included', async (t) => {
  const dir = tempDir(t)
  const first = await startEmulator({ stateDir: dir, logLevel: 'silent' })
  await placedResource(first, 'keep', 2, 1024)
  await open(first, 'alpha', 'keep')
  await write(first, 'alpha', 'keep', 0, 10, Buffer.from('persisted'))
  await ok(first, 'PUT', '/v1/nodes/bravo', { override_props: { 'Aux/x': 'y' } })
  await first.close()
  assert.ok(fs.existsSync(path.join(dir, 'state.json')))
  const second = await startEmulator({ stateDir: dir, logLevel: 'silent', cluster: { nodes: [{ name: 'other' }] } })
  t.after(() => second.close())
  const rows = (await getJson(second, '/v1/view/resources?resources=keep')) as Array<{ node_name: string; state?: { in_use?: boolean } }>
  assert.deepEqual(rows.map((r) => [r.node_name, r.state?.in_use]), [['alpha', true], ['bravo', false], ['charlie', false]])
  assert.equal((await read(second, 'alpha', 'keep', 0, 10, 9)).text, 'persisted')
  const node = (await getJson(second, '/v1/nodes/bravo')) as { props: Record<string, string> }
  assert.equal(node.props['Aux/x'], 'y')
  const minor = await raw(second, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'keep' } })
  assert.equal(minor.status, 500)
})

test('a change appends one journal line with what it touched; the base is replaced atomically (no temp files left behind)', async (t) => {
  const dir = tempDir(t)
  const emu = await startEmulator({ stateDir: dir, logLevel: 'silent' })
  t.after(() => emu.close())
  const base = fs.readFileSync(path.join(dir, 'state.json'), 'utf8')
  await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('state')).sort()
  assert.deepEqual(files, ['state.journal', 'state.json'])
  assert.equal(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'), base, 'the base is left alone by a change')
  const lines = fs.readFileSync(path.join(dir, 'state.journal'), 'utf8').split('\n')
  assert.equal(lines.pop(), '', 'each line ends with a newline')
  assert.equal(lines.length, 1)
  const [entry] = JSON.parse(lines[0] ?? '') as [string, string, { name: string }][]
  assert.deepEqual([entry?.[0], entry?.[1], entry?.[2].name], ['resourceDefinitions', 'R1', 'r1'], 'only the definition it made')
  // A change that fails (an existing name) touches nothing: no line.
  assert.equal((await raw(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'R1' } })).status, 500)
  assert.equal(fs.readFileSync(path.join(dir, 'state.journal'), 'utf8').split('\n').length, 2)
})

test('a restart replays the journal over the base; a last line cut short by a crash is no change', async (t) => {
  const dir = tempDir(t)
  const first = await startEmulator({ stateDir: dir, logLevel: 'silent' })
  t.after(() => first.close())
  await ok(first, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r1' } })
  await ok(first, 'PUT', '/v1/resource-definitions/r1', { override_props: { 'Aux/a': '1' } })
  await ok(first, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r2' } })
  await ok(first, 'DELETE', '/v1/resource-definitions/r2')
  await ok(first, 'POST', '/v1/controller/properties', { override_props: { 'Aux/c': 'x' } })
  await first.close()
  const journal = path.join(dir, 'state.journal')
  // A crash in the middle of the next line's write.
  fs.appendFileSync(journal, '[["resourceDefinitions","R3",{"name":"r3"')
  const second = await startEmulator({ stateDir: dir, logLevel: 'silent' })
  t.after(() => second.close())
  const rds = (await getJson(second, '/v1/resource-definitions')) as Array<{ name: string; props?: Record<string, string> }>
  assert.deepEqual(rds.map((r) => [r.name, r.props?.['Aux/a']]), [['r1', '1']])
  const ctrl = (await getJson(second, '/v1/controller/properties')) as Record<string, string>
  assert.equal(ctrl['Aux/c'], 'x')
  // The next change ends the cut line first: it stays a line of its own, passed over by the next start.
  await ok(second, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'r4' } })
  await second.close()
  assert.match(fs.readFileSync(journal, 'utf8'), /"r3"\n\[\["resourceDefinitions","R4"/)
  const third = await startEmulator({ stateDir: dir, logLevel: 'silent' })
  t.after(() => third.close())
  const again = (await getJson(third, '/v1/resource-definitions')) as Array<{ name: string }>
  assert.deepEqual(again.map((r) => r.name).sort(), ['r1', 'r4'])
})

test('kill -9 loses no acknowledged change: each one is on disk before its reply', async (t) => {
  const dir = tempDir(t)
  const state = path.join(dir, 'state')
  const child = spawnCli(['--listen', '127.0.0.1:0', '--state', state, '--log-level', 'warn'])
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  child.stdout?.setEncoding('utf8')
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: string) => {
      stdout += d
      const m = /^listening on (\S+)\n/.exec(stdout)
      if (m !== null) resolve(m[1] ?? '')
    })
    child.on('exit', (code) => reject(new Error(`exited early with ${code}`)))
  })
  const emu = { url } as never
  const names: string[] = []
  for (let i = 0; i < 20; i++) {
    await ok(emu, 'POST', '/v1/resource-definitions', { resource_definition: { name: `k${i}` } })
    await ok(emu, 'PUT', `/v1/resource-definitions/k${i}`, { override_props: { 'Aux/i': String(i) } })
    names.push(`k${i}`)
  }
  await ok(emu, 'DELETE', '/v1/resource-definitions/k0')
  // Killed right after the last reply: no chance to write anything more.
  const killed = new Promise<unknown>((resolve) => child.on('exit', resolve))
  child.kill('SIGKILL')
  await killed
  const after = await startEmulator({ stateDir: state, logLevel: 'silent' })
  t.after(() => after.close())
  const rds = (await getJson(after, '/v1/resource-definitions')) as Array<{ name: string; props?: Record<string, string> }>
  assert.deepEqual(
    rds.map((r) => [r.name, r.props?.['Aux/i']]).sort(),
    names.slice(1).map((n) => [n, n.slice(1)]).sort(),
  )
})

test('a journal grown past the base becomes the new base; a standby on the same directory sees every change', async (t) => {
  const dir = tempDir(t)
  const active = await startEmulator({ stateDir: dir, logLevel: 'silent' })
  t.after(() => active.close())
  const standby = await startEmulator({ stateDir: dir, logLevel: 'silent' })
  t.after(() => standby.close())
  const long = 'x'.repeat(4096)
  let folded = false
  for (let i = 0; i < 200 && !folded; i++) {
    await ok(active, 'POST', '/v1/controller/properties', { override_props: { [`Aux/k${i}`]: long } })
    folded = fs.statSync(path.join(dir, 'state.journal')).size === 0
  }
  assert.ok(folded, 'the journal was folded into the base')
  const base = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { controllerProps: Record<string, string> }
  assert.equal(base.controllerProps['Aux/k0'], long)
  await ok(active, 'POST', '/v1/controller/properties', { override_props: { 'Aux/last': 'y' } })
  const seen = (await getJson(standby, '/v1/controller/properties')) as Record<string, string>
  assert.equal(seen['Aux/last'], 'y')
  assert.equal(seen['Aux/k0'], long)
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp')), [])
})

test('YAML cluster files: the bundled examples load; nodes, pools, props, online flags and groups apply', async (t) => {
  const root = repoRoot()
  const dflt = await loadClusterFile(path.join(root, 'emulator', 'clusters', 'default.yaml'))
  assert.deepEqual(dflt, parseClusterSpec(DEFAULT_CLUSTER))
  const emu = await startEmulator({ cluster: path.join(root, 'emulator', 'clusters', 'two-sites.yaml'), logLevel: 'silent' })
  t.after(() => emu.close())
  const nodes = (await getJson(emu, '/v1/nodes')) as Array<{ name: string; connection_status: string; props: Record<string, string> }>
  assert.deepEqual(nodes.map((n) => [n.name, n.connection_status, n.props['Aux/site']]), [
    ['client-1', 'ONLINE', 'west'],
    ['east-1', 'ONLINE', 'east'],
    ['east-2', 'ONLINE', 'east'],
    ['west-1', 'ONLINE', 'west'],
    ['west-2', 'OFFLINE', 'west'],
  ])
  const thick = (await getJson(emu, '/v1/nodes/east-1/storage-pools/thick')) as { free_capacity: number; total_capacity: number }
  assert.deepEqual([thick.free_capacity, thick.total_capacity], [15728640, 20971520])
  const rg = (await getJson(emu, '/v1/resource-groups/sitewise')) as { select_filter: { replicas_on_different: string[] } }
  assert.deepEqual(rg.select_filter.replicas_on_different, ['Aux/site'])
})

test('invalid cluster descriptions are refused with a readable message', () => {
  assert.throws(() => parseClusterSpec({}), /"nodes" must be a non-empty list/)
  assert.throws(() => parseClusterSpec({ nodes: [{ name: 'a b' }] }), /not a valid node name/)
  assert.throws(() => parseClusterSpec({ nodes: [{ name: 'n1', pools: [{ name: 'pool', provider_kind: 'TAPE', total_capacity_kib: 1 }] }] }), /provider_kind "TAPE" is unknown/)
  assert.throws(() => parseClusterSpec({ nodes: [{ name: 'n1' }, { name: 'N1' }] }), /listed twice/)
  assert.throws(() => parseClusterSpec({ nodes: [{ name: 'n1', pools: [{ name: 'pool', provider_kind: 'LVM', total_capacity_kib: 10, free_capacity_kib: 11 }] }] }), /free_capacity_kib/)
})

test('a temporary state directory is removed on close', async () => {
  const emu = await startEmulator({ logLevel: 'silent' })
  assert.ok(fs.existsSync(emu.stateDir))
  await emu.close()
  assert.equal(fs.existsSync(emu.stateDir), false)
})

test('CLI: prints exactly one "listening on" line, serves, and stops cleanly on SIGTERM', async (t) => {
  const dir = tempDir(t)
  const cluster = path.join(dir, 'c.yaml')
  fs.writeFileSync(cluster, 'nodes:\n  - name: solo\n    pools:\n      - { name: pool1, provider_kind: LVM_THIN, total_capacity_kib: 1048576 }\n')
  const state = path.join(dir, 'state')
  const child = spawnCli(['--listen', '127.0.0.1:0', '--cluster', cluster, '--state', state, '--log-level', 'warn'])
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  child.stdout?.setEncoding('utf8')
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no listening line within 15 s')), 15_000)
    child.stdout?.on('data', (d: string) => {
      stdout += d
      if (stdout.includes('\n')) {
        clearTimeout(timer)
        resolve(stdout.split('\n')[0] ?? '')
      }
    })
    child.on('exit', (code) => reject(new Error(`exited early with ${code}`)))
  })
  const m = /^listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(line)
  assert.ok(m !== null, line)
  assert.notEqual(m[2], '0')
  const nodes = (await getJson({ url: m[1] ?? '' } as never, '/v1/nodes')) as Array<{ name: string }>
  assert.deepEqual(nodes.map((n) => n.name), ['solo'])
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  assert.equal(await exited, 0)
  assert.equal(stdout, `${line}\n`)
  assert.ok(fs.existsSync(path.join(state, 'state.json')))
})

test('CLI: bad arguments exit 2 with a message on stderr', async () => {
  const child = spawnCli(['--listen', 'nonsense'])
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (d: string) => (stderr += d))
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  assert.equal(code, 2)
  assert.match(stderr, /--listen must be HOST:PORT/)
})

test('a failed start (bad cluster, busy port) leaves no temporary directory and reports why', async (t) => {
  // A private TMPDIR (os.tmpdir() reads it per call) so other test processes cannot interfere.
  const privateTmp = tempDir(t)
  const saved = process.env['TMPDIR']
  process.env['TMPDIR'] = privateTmp
  t.after(() => {
    if (saved === undefined) delete process.env['TMPDIR']
    else process.env['TMPDIR'] = saved
  })
  await assert.rejects(startEmulator({ cluster: { nodes: [] }, logLevel: 'silent' }), /non-empty list/)
  const first = await startEmulator({ logLevel: 'silent' })
  t.after(() => first.close())
  const port = Number(new URL(first.url).port)
  await assert.rejects(startEmulator({ listen: { port }, logLevel: 'silent' }), /EADDRINUSE/)
  assert.deepEqual(fs.readdirSync(privateTmp), [path.basename(first.stateDir)])
})

test('two emulators on one state directory act as active/standby controllers (failover)', async (t) => {
  const dir = tempDir(t)
  const a = await startEmulator({ stateDir: dir, logLevel: 'silent' })
  t.after(() => a.close())
  const b = await startEmulator({ stateDir: dir, logLevel: 'silent' })
  t.after(() => b.close())
  await placedResource(a, 'shared', 2, 1024)
  await open(a, 'alpha', 'shared')
  await write(a, 'alpha', 'shared', 0, 0, Buffer.from('from a'))
  await a.stopListening()
  // The standby sees what the active one wrote: definitions, replicas, roles and bytes.
  const rows = (await getJson(b, '/v1/view/resources?resources=shared')) as Array<{ node_name: string; state?: { in_use?: boolean } }>
  assert.deepEqual(rows.map((r) => [r.node_name, r.state?.in_use]), [['alpha', true], ['bravo', false], ['charlie', false]])
  assert.equal((await read(b, 'alpha', 'shared', 0, 0, 6)).text, 'from a')
  await ok(b, 'POST', '/v1/resource-definitions', { resource_definition: { name: 'later' } })
  await a.startListening()
  assert.equal((await raw(a, 'GET', '/v1/resource-definitions/later')).status, 200)
})
