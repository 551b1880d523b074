/**
 * `linstor-virt agent [--config FILE] [--socket PATH] [--controllers LIST] [--listen-tcp ... --tcp-token-file F]
 *  [--metrics-textfile PATH.prom [--metrics-interval S]] [--survey-interval S]`: the per-host agent
 * (see cli/agent/server.ts, metrics in cli/agent/metrics.ts); prints one readiness line on stderr
 * and runs until SIGTERM/SIGINT, or with --exit-with-stdin also until its stdin ends (a private agent
 * that a platform's long-lived process starts as its child: it ends with that process).
 * `linstor-virt agent status [--socket PATH] [--json]`: asks a running agent's /health.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { parseArgs } from 'node:util'
import { loadLogger } from '../../core/log/index.js'
import { buildDispatcher } from '../dispatcher.js'
import { DEFAULT_SOCKET, groupId, startAgent } from '../agent/server.js'
import { DEFAULT_AGENT_CONF, DEFAULT_SERVED, hostAccess, hostRules, readAgentConf } from '../agent/policy.js'
import type { AgentConf } from '../agent/policy.js'
import { usageError } from '../usage.js'

function health(socketPath: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/health', timeout: 5000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>)
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)))
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 5000 ms')))
    req.on('error', reject)
  })
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      socket: { type: 'string' },
      controllers: { type: 'string' },
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      'listen-tcp': { type: 'string' },
      'tcp-token-file': { type: 'string' },
      'metrics-textfile': { type: 'string' },
      'metrics-interval': { type: 'string' },
      'survey-interval': { type: 'string' },
      'exit-with-stdin': { type: 'boolean', default: false },
    },
  })
  if (positionals[0] === 'status' && positionals.length === 1) {
    const socketPath = values.socket ?? DEFAULT_SOCKET
    try {
      const h = await health(socketPath)
      if (values.json) process.stdout.write(JSON.stringify(h) + '\n')
      else {
        const c = (h['controller'] ?? {}) as Record<string, unknown>
        process.stdout.write(`agent pid ${String(h['pid'])}, up ${String(h['uptimeS'])} s, ${String(h['inFlight'])} call(s) in flight, ${String(h['calls'])} served; controller ${c['reachable'] === true ? `reachable (LINSTOR ${String(c['version'])}, ${String(c['ms'])} ms)` : `unreachable: ${String(c['error'])}`}\n`)
      }
      return 0
    } catch (err) {
      process.stderr.write(`linstor-virt: no agent answers on ${socketPath}: ${err instanceof Error ? err.message : String(err)}\n`)
      return 1
    }
  }
  if (positionals.length > 0) {
    return usageError('agent', positionals[0] === 'status' ? `unexpected argument '${positionals[1] ?? ''}'` : `unknown subcommand '${positionals[0] ?? ''}' (status)`)
  }
  // The agent's own configuration: what callers of the group sockets and the TCP listener may do.
  let conf: AgentConf
  try {
    conf = readAgentConf(values.config ?? DEFAULT_AGENT_CONF)
  } catch (err) {
    process.stderr.write(`linstor-virt: ${values.config ?? DEFAULT_AGENT_CONF}: ${err instanceof Error ? err.message : String(err)}\n`)
    return 2
  }
  const socketPath = values.socket ?? conf.socket ?? DEFAULT_SOCKET
  const listenTcp = values['listen-tcp'] ?? conf.tcp?.listen
  const tcpTokenFile = values['tcp-token-file'] ?? conf.tcp?.tokenFile
  let tcpListen: { host: string; port: number; token: string } | undefined
  if (listenTcp !== undefined) {
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(listenTcp)
    if (m === null || tcpTokenFile === undefined) {
      process.stderr.write('linstor-virt: --listen-tcp HOST:PORT needs --tcp-token-file FILE (the token is never taken from the command line)\n')
      return 2
    }
    let token: string
    try {
      token = readFileSync(tcpTokenFile, 'utf8').trim()
    } catch (err) {
      process.stderr.write(`linstor-virt: cannot read --tcp-token-file: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`)
      return 2
    }
    tcpListen = { host: m[1] as string, port: Number(m[2]), token }
  }
  const seconds = (name: 'metrics-interval' | 'survey-interval', dflt: number, min: number): number | undefined => {
    const v = values[name] === undefined ? dflt : Number(values[name])
    return Number.isFinite(v) && v >= min && v <= 86_400 ? v : undefined
  }
  const textfileS = seconds('metrics-interval', 15, 1)
  const surveyS = seconds('survey-interval', 60, 0)
  if (textfileS === undefined) return usageError('agent', `--metrics-interval: '${values['metrics-interval'] ?? ''}' is not a number of seconds from 1 to 86400`)
  if (surveyS === undefined) return usageError('agent', `--survey-interval: '${values['survey-interval'] ?? ''}' is not a number of seconds from 0 (no survey) to 86400`)
  if (values['metrics-interval'] !== undefined && values['metrics-textfile'] === undefined) return usageError('agent', '--metrics-interval is how often --metrics-textfile is written: give the file too')
  const metrics = {
    surveyIntervalMs: surveyS * 1000,
    ...(values['metrics-textfile'] !== undefined ? { textfile: values['metrics-textfile'], textfileIntervalMs: textfileS * 1000 } : {}),
  }
  const logger = await loadLogger({ name: 'linstor-virt-agent', level: 'info' })
  const controllers = values.controllers ?? conf.controllers ?? process.env['LS_CONTROLLERS']
  const rules = hostRules({ conf, ...(controllers !== undefined ? { controllers } : {}), logger })
  const tcp = tcpListen === undefined ? undefined : { ...tcpListen, access: hostAccess(`the TCP listener ${tcpListen.host}:${tcpListen.port}`, conf.tcp?.platforms ?? DEFAULT_SERVED, rules) }
  // A socket for a group that does not exist (the platform is not installed yet) is left out.
  const sockets = conf.sockets
    .filter((g) => {
      try {
        groupId(g.group)
        return true
      } catch {
        logger.warn({ socket: g.path, group: g.group }, `there is no group ${g.group}: the socket ${g.path} is left out until it exists and the agent restarts`)
        return false
      }
    })
    .map((g) => ({ path: g.path, group: g.group, mode: g.mode, access: hostAccess(`the socket ${g.path}`, g.platforms, rules) }))
  let agent
  try {
    agent = await startAgent({
      socketPath,
      sockets,
      ...(controllers !== undefined ? { controllers } : {}),
      ...(tcp !== undefined ? { tcp } : {}),
      // Pending records lie in state folders callers of the group sockets may write.
      sweepAccess: hostAccess('the pending sweep', ['core'], rules, true),
      metrics,
      dispatcher: buildDispatcher(logger),
      logger,
    })
  } catch (err) {
    process.stderr.write(`linstor-virt: the agent cannot start: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
  const also = [...agent.sockets, ...(agent.tcpPort !== undefined && tcp !== undefined ? [`${tcp.host}:${agent.tcpPort}`] : [])]
  process.stderr.write(`linstor-virt agent listening on ${agent.socketPath}${also.length > 0 ? ` and ${also.join(' and ')}` : ''}\n`)
  // Under systemd (Type=notify, NotifyAccess=all) tell it we are ready: node has no unix datagram
  // sockets, so systemd-notify sends the message for us (argument list, no shell).
  if (process.env['NOTIFY_SOCKET'] !== undefined) {
    execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], { timeout: 5000 }, (err) => {
      if (err !== null) logger.warn({ err: err.message }, 'systemd-notify failed')
    })
  }
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve())
    if (values['exit-with-stdin']) {
      // The parent holds the other end: when it ends (however it ends), so does this agent.
      process.stdin.on('data', () => undefined)
      process.stdin.once('end', () => resolve())
      process.stdin.once('error', () => resolve())
    }
  })
  await agent.close()
  return 0
}
