/**
 * What a shim does, in TypeScript (tests and benchmarks; the Perl and Python shims do the same):
 * send one request to the agent's socket; when the socket is missing or refuses, run
 * `linstor-virt call --stdin` instead.
 */
import { spawn } from 'node:child_process'
import http from 'node:http'
import type { CallReply } from '../../core/protocol/index.js'

export class AgentUnavailable extends Error {}

function ignoreLateError(): void {
  // see callAgent
}

/** One request over the agent's unix socket (a fresh connection, as a shim makes). */
export function callAgent(socketPath: string, request: unknown, timeoutMs = 65_000, agent?: http.Agent): Promise<CallReply> {
  const body = Buffer.from(typeof request === 'string' ? request : JSON.stringify(request))
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path: '/v1/call', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length }, timeout: timeoutMs, ...(agent !== undefined ? { agent } : {}) },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as CallReply)
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)))
          }
        })
      },
    )
    // The agent may answer (413) and close before the whole body is written: that late EPIPE is
    // not an error of the call, which already has its reply.
    // Once per socket: a kept-alive socket serves many calls.
    req.on('socket', (s) => {
      if (!s.listeners('error').includes(ignoreLateError)) s.on('error', ignoreLateError)
    })
    req.on('timeout', () => req.destroy(new Error(`no reply from the agent within ${timeoutMs} ms`)))
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES' ? new AgentUnavailable(err.message) : err)
    })
    req.end(body)
  })
}

/** `node <bundle> call --stdin` with the request on stdin. */
export function callOneShot(bundle: string, request: unknown, timeoutMs = 65_000): Promise<CallReply> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, 'call', '--stdin'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs })
    const out: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.on('error', reject)
    child.on('close', () => {
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as CallReply)
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)))
      }
    })
    child.stdin.end(typeof request === 'string' ? request : JSON.stringify(request))
  })
}

/** The shims' rule: the agent if it answers, else one-shot. */
export async function callWithFallback(socketPath: string, bundle: string, request: unknown): Promise<{ via: 'agent' | 'one-shot'; reply: CallReply }> {
  try {
    return { via: 'agent', reply: await callAgent(socketPath, request) }
  } catch (err) {
    if (!(err instanceof AgentUnavailable)) throw err
    return { via: 'one-shot', reply: await callOneShot(bundle, request) }
  }
}
