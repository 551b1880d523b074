/**
 * Real servers on 127.0.0.1 port 0 for client tests: a scripted HTTP(S) server, a port that
 * refuses connections, and a listener that black-holes them (SYNs dropped, as a dead host or a
 * firewall would).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'

export interface RecordedRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: string
  clientCertSubject?: string
}

export type Handler = (req: RecordedRequest, res: http.ServerResponse) => void | Promise<void>

export interface ScriptedServer {
  url: string
  port: number
  requests: RecordedRequest[]
  /** TCP connections accepted so far. */
  connections(): number
  close(): Promise<void>
}

export interface ServerTls {
  key: Buffer
  cert: Buffer
  ca?: Buffer
  requestCert?: boolean
}

/** Starts a scripted server; it is closed after the test. */
export async function startServer(t: TestContext, handler: Handler, tls?: ServerTls): Promise<ScriptedServer> {
  const requests: RecordedRequest[] = []
  const sockets = new Set<net.Socket>()
  let accepted = 0
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      const peer = (req.socket as { getPeerCertificate?: () => { subject?: { CN?: string } } }).getPeerCertificate?.()
      if (peer?.subject?.CN !== undefined) rec.clientCertSubject = peer.subject.CN
      requests.push(rec)
      Promise.resolve(handler(rec, res)).catch((e: unknown) => {
        res.statusCode = 599
        res.end(String(e))
      })
    })
  }
  const server = tls === undefined
    ? http.createServer(listener)
    : https.createServer({ key: tls.key, cert: tls.cert, ...(tls.ca === undefined ? {} : { ca: tls.ca }), requestCert: tls.requestCert ?? false, rejectUnauthorized: tls.requestCert ?? false }, listener)
  server.on(tls === undefined ? 'connection' : 'secureConnection', (s: net.Socket) => {
    accepted++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.after(close)
  return { url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`, port, requests, connections: () => accepted, close }
}

/** Writes a JSON reply whose text is given verbatim (to keep exact 64-bit integers). */
export function replyRaw(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(text)
}

/** A port on 127.0.0.1 where nothing listens: connections are refused. */
export async function closedPort(): Promise<number> {
  const s = net.createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

/**
 * A listener whose accept queue is full and never drained: the kernel drops further SYNs, so a
 * connect neither succeeds nor fails (what a crashed host or a DROP firewall rule does). A child
 * process listens with backlog 1 and then blocks its event loop; two filler connections fill the
 * queue.
 */
export async function blackHole(t: TestContext): Promise<{ port: number; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "const s=require('node:net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{process.stdout.write(s.address().port+'\\n');" +
        'setTimeout(()=>Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0),20)})',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const fillers: net.Socket[] = []
  t.after(() => {
    for (const f of fillers) f.destroy()
    child.kill('SIGKILL')
  })
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer]
  const port = Number(chunk.toString().trim())
  await new Promise((r) => setTimeout(r, 100))
  // Fill the queue until a connect hangs (two on Linux for backlog 1); bounded.
  for (let i = 0; i < 8; i++) {
    const s = net.connect(port, '127.0.0.1')
    const ok = await Promise.race([
      once(s, 'connect').then(() => true, () => false),
      new Promise<boolean>((r) => setTimeout(() => r(false), 300)),
    ])
    if (!ok) {
      s.destroy()
      return { port, url: `http://127.0.0.1:${port}` }
    }
    fillers.push(s)
  }
  throw new Error('could not fill the listen queue of the black-hole listener')
}
