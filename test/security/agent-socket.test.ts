/**
 * The agent's unix sockets are their access control (issue 10, issue 28): the agent's own socket is
 * for its owner alone (mode 0600: requests there are obeyed as sent), a group's socket (mode 0660,
 * its callers get only what the host's configuration allows) for that group too, each in a folder
 * the agent creates without world write access, whatever the umask. As root the refusal is proven,
 * not only read from the mode: a process of another user (nobody) gets EACCES on both, and the same
 * user in the group socket's group gets through there, so the mode is what decides.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmodSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { callAgent } from '../../cli/agent/client.js'
import { startAgent } from '../../cli/agent/server.js'
import type { RunningAgent } from '../../cli/agent/server.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { silentLogger } from '../../core/log/index.js'
import { allowing } from '../helpers/access.js'
import { tempDir } from '../helpers/core.js'

const isRoot = process.getuid?.() === 0
const NOBODY = 65534

/** Starts an agent under a umask of 0 (the most permissive), in a folder it has to create. */
async function agentIn(t: TestContext): Promise<{ agent: RunningAgent; dir: string }> {
  const base = tempDir(t, 'lv-agent-sock-')
  // Others may walk the temporary folder: only the agent's own folder and socket modes stand in their way.
  chmodSync(base, 0o755)
  const dir = join(base, 'run', 'linstor-virt')
  const before = process.umask(0)
  let agent: RunningAgent
  try {
    agent = await startAgent({
      socketPath: join(dir, 'agent.sock'),
      sockets: [{ path: join(dir, 'group.sock'), group: NOBODY, access: allowing({ controllers: [] }) }],
      dispatcher: buildDispatcher(silentLogger()),
      logger: silentLogger(),
    })
  } finally {
    process.umask(before)
  }
  t.after(() => agent.close())
  return { agent, dir }
}

function assertModes(agent: RunningAgent, dir: string): void {
  const sock = statSync(agent.socketPath)
  assert.ok(sock.isSocket())
  assert.equal((sock.mode & 0o777).toString(8), '600', 'owner only')
  for (const g of agent.sockets) {
    const gs = statSync(g)
    assert.equal((gs.mode & 0o777).toString(8), '660', 'owner and group only')
    assert.equal(gs.gid, NOBODY, 'the group asked for')
  }
  for (const d of [dir, join(dir, '..')]) {
    const mode = statSync(d).mode & 0o777
    assert.equal(mode & 0o002, 0, `${d} (${mode.toString(8)}) is not world-writable`)
  }
}

/** A child process as uid/gid that connects to the socket and reports 'connected' or the error code. */
function connectAs(socketPath: string, uid: number, gid: number): Promise<string> {
  const code = `require('node:net').connect(${JSON.stringify(socketPath)}).on('connect', function () { process.stdout.write('connected'); this.destroy() }).on('error', (e) => process.stdout.write(e.code || e.message))`
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', code], { uid, gid, env: { PATH: '/usr/bin:/bin' }, cwd: '/', timeout: 10_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`the probe failed to run as ${uid}:${gid}: ${err.message} ${stderr}`))
      else resolve(stdout)
    })
  })
}

test(
  isRoot
    ? "the agent's own socket is 0600, a group's socket 0660 for that group, in a folder that is not world-writable, even under umask 0; another user (nobody) is refused with EACCES on both while the group socket's group gets in there"
    : "the agent's own socket is 0600, a group's socket 0660, in a folder that is not world-writable, even under umask 0 (not root here: modes only, no other user to connect as)",
  async (t) => {
    const { agent, dir } = await agentIn(t)
    assertModes(agent, dir)
    // The owner is served.
    const pong = await callAgent(agent.socketPath, { v: 1, platform: 'core', operation: 'ping' })
    assert.ok('result' in pong && (pong.result as { pong: boolean }).pong)
    if (!isRoot) return
    const group = agent.sockets[0] as string
    assert.equal(await connectAs(agent.socketPath, NOBODY, NOBODY), 'EACCES', 'another user is refused on the own socket')
    assert.equal(await connectAs(agent.socketPath, NOBODY, 0), 'EACCES', 'also in the group of the own socket')
    assert.equal(await connectAs(group, NOBODY, 0), 'EACCES', 'another user outside the group socket\'s group is refused')
    assert.equal(await connectAs(group, NOBODY, NOBODY), 'connected', 'the same user in the socket group gets in: the mode decides')
    // ...and only the mode: the own socket opened to everyone, nobody would get in too (then closed again).
    chmodSync(agent.socketPath, 0o666)
    try {
      assert.equal(await connectAs(agent.socketPath, NOBODY, NOBODY), 'connected')
    } finally {
      chmodSync(agent.socketPath, 0o600)
    }
    assert.equal(await connectAs(agent.socketPath, NOBODY, NOBODY), 'EACCES')
  },
)

test('a restarted agent takes over a stale socket and sets the mode again', async (t) => {
  const { agent, dir } = await agentIn(t)
  await agent.close()
  // A killed agent leaves its socket file behind (here with a mode anyone could use).
  await new Promise<void>((resolve) => {
    const code = `require('node:net').createServer().listen(${JSON.stringify(agent.socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`
    execFile(process.execPath, ['-e', code], () => resolve())
  })
  assert.ok(statSync(agent.socketPath).isSocket(), 'a stale socket is left')
  chmodSync(agent.socketPath, 0o777)
  const again = await startAgent({ socketPath: agent.socketPath, sockets: [{ path: agent.sockets[0] as string, group: NOBODY, access: allowing({ controllers: [] }) }], dispatcher: buildDispatcher(silentLogger()), logger: silentLogger() })
  t.after(() => again.close())
  assertModes(again, dir)
  if (isRoot) assert.equal(await connectAs(again.socketPath, NOBODY, NOBODY), 'EACCES')
})
