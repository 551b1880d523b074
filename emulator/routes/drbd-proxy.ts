/**
 * DRBD Proxy (`/v1/resource-definitions/{r}/drbd-proxy...`), after linstor-server's REST class
 * DrbdProxy and CtrlDrbdProxyEnableApiCallHandler, CtrlDrbdProxyHelper.enableProxy,
 * CtrlDrbdProxyDisableApiCallHandler and CtrlDrbdProxyModifyApiCallHandler:
 *
 * - enable: the resource connection of the two nodes (both must hold the resource) gets the flag
 *   LOCAL_DRBD_PROXY, a proxy port per side (given, else auto-allocated from the TCP port range)
 *   and `DrbdOptions/Net/protocol` = A ("set protocol A as default").
 * - disable: ports unset, flag cleared, `DrbdProxy/AutoEnable` = false on the connection; the
 *   protocol property stays where enable put it.
 * - modify: options on the resource definition: `DrbdOptions/Proxy/<option>` (override/delete),
 *   `compression_type` none|zlib|lzma|lz4|zstd into `DrbdProxy/CompressionType` with its
 *   `DrbdOptions/ProxyCompression/<option>` properties (a new type clears the old ones).
 *
 * What a proxied connection does to the data: proxy.ts.
 */
import type { Request } from 'express'
import { ApiRcError, MASK_MOD, MASK_RSC_CONN, MASK_RSC_DFN, RC, formatTimestamp } from '../api-call-rc.js'
import type { ReplyBuilder, ResponseContext } from '../api-call-rc.js'
import type { Emu } from '../context.js'
import { requireRd } from '../definitions.js'
import type { RouteTable } from '../http-kit.js'
import { mutation, param, readBody } from '../http-kit.js'
import type { NodeState, ResourceConnectionState, ResourceDefinitionState } from '../model.js'
import { connectionKey, replicas } from '../model.js'
import { nameKey } from '../names.js'
import { normaliseProp } from '../props.js'
import { COMPRESSION_KEY, PROTOCOL_KEY, PROXY_FLAG } from '../proxy.js'
import * as T from '../request-types.js'
import { requireNode } from './nodes.js'

const AUTO_ENABLE_KEY = 'DrbdProxy/AutoEnable'
const COMPRESSION_NS = 'DrbdOptions/ProxyCompression/'
const COMPRESSION_TYPES = new Set(['zlib', 'lzma', 'lz4', 'zstd'])
/** The DRBD_PROXY options the spec lists for PUT .../drbd-proxy, with their ranges. */
const PROXY_OPTIONS: Readonly<Record<string, [bigint, bigint]>> = {
  'DrbdOptions/Proxy/memlimit': [16777216n, 9223372036854775807n],
  'DrbdOptions/Proxy/read-loops': [0n, 2147483647n],
  'DrbdOptions/Proxy/sndbuf-size': [0n, 10485760n],
  'DrbdOptions/Proxy/rcvbuf-size': [0n, 10485760n],
  'DrbdOptions/Proxy/ping-timeout': [1n, 300n],
}

/** CtrlRscConnectionApiCallHandler.getResourceConnectionDescriptionInline (wording ours). */
function connDescription(a: string, b: string, rsc: string): string {
  return `resource connection between nodes '${a}' and '${b}' of resource '${rsc}'`
}

/** CtrlDrbdProxyEnableApiCallHandler.makeDrbdProxyContext. */
function proxyCtx(req: Request): ResponseContext {
  const a = param(req, 'node_a')
  const b = param(req, 'node_b')
  const rsc = param(req, 'resource')
  return { op: MASK_MOD, obj: MASK_RSC_CONN, objRefs: { FirstNode: a, SecondNode: b, RscDfn: rsc }, objDescription: `DRBD Proxy on ${connDescription(a, b, rsc)}` }
}

/** An entry as ApiCallRcImpl.simpleEntry builds it (no masks, no obj_refs). */
function bare(emu: Emu, reply: ReplyBuilder, code: bigint, message: string, details?: string): void {
  reply.addAll([{ ret_code: code, message, ...(details !== undefined ? { details } : {}), created_at: formatTimestamp(emu.clock()) }])
}

/** CtrlRscConnectionHelper.loadOrCreateRscConn: both resources must exist. */
function loadOrCreateConnection(emu: Emu, rd: ResourceDefinitionState, nodeA: string, nodeB: string): { c: ResourceConnectionState; a: NodeState; b: NodeState } {
  const a = requireNode(emu, nodeA)
  const b = requireNode(emu, nodeB)
  for (const n of [a, b]) {
    if (rd.resources[nameKey(n.name)] === undefined) throw new ApiRcError(RC.FAIL_NOT_FOUND_RSC, `Resource '${rd.name}' on node '${n.name}' not found.`)
  }
  const key = connectionKey(a.name, b.name)
  const c = rd.connections[key] ?? { nodeA: a.name, nodeB: b.name, props: {}, uuid: emu.uuid() }
  rd.connections[key] = c
  return { c, a, b }
}

/** Ports a node uses: its resources' DRBD ports and the proxy ports of its connections. */
function usedPorts(emu: Emu, node: string): Set<number> {
  const used = new Set<number>()
  for (const rd of Object.values(emu.state.resourceDefinitions)) {
    const r = rd.resources[nameKey(node)]
    if (r !== undefined) used.add(r.tcpPort)
    for (const c of Object.values(rd.connections)) {
      if (nameKey(c.nodeA) === nameKey(node) && c.proxyPortA !== undefined) used.add(c.proxyPortA)
      if (nameKey(c.nodeB) === nameKey(node) && c.proxyPortB !== undefined) used.add(c.proxyPortB)
    }
  }
  return used
}

/** CtrlDrbdProxyHelper.setOrAutoAllocateDrbdProxyPort for one side. */
function proxyPort(emu: Emu, node: string, wanted: number | undefined, current: number | undefined): number {
  const used = usedPorts(emu, node)
  if (current !== undefined) used.delete(current)
  if (wanted !== undefined) {
    if (!Number.isInteger(wanted) || wanted < 1 || wanted > 65535 || used.has(wanted)) {
      throw new ApiRcError(RC.FAIL_INVLD_RSC_PORT, `The specified TCP port '${wanted}' is invalid.`)
    }
    return wanted
  }
  if (current !== undefined) return current
  const range = /^(\d+)-(\d+)$/.exec(emu.state.controllerProps['TcpPortAutoRange'] ?? '')
  const [min, max] = range ? [Number(range[1]), Number(range[2])] : [7000, 7999]
  for (let p = min; p <= max; p++) if (!used.has(p)) return p
  throw new ApiRcError(RC.FAIL_POOL_EXHAUSTED_TCP_PORT, 'Could not find free TCP port')
}

/** Satellite notices of a proxy change (CtrlResponseUtils.combineResponses; wording ours). */
function notified(emu: Emu, rd: ResourceDefinitionState, reply: ReplyBuilder, what: string): void {
  for (const r of replicas(rd)) {
    if (emu.state.nodes[nameKey(r.node)]?.online === true) bare(emu, reply, 0n, `Notified '${r.node}' of ${what} for '${rd.name}'`)
  }
}

function checkProxyOption(key: string, value: unknown): string {
  const range = PROXY_OPTIONS[key]
  if (range === undefined) throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property key: ${key}`, { cause: `The key '${key}' is not whitelisted.` })
  const v = typeof value === 'string' ? value.trim() : ''
  if (!/^\d+$/.test(v) || BigInt(v) < range[0] || BigInt(v) > range[1]) throw new ApiRcError(RC.FAIL_INVLD_PROP, `Invalid property(${key}) value: ${String(value)}`)
  return v
}

export function drbdProxyRoutes(emu: Emu, routes: RouteTable): void {
  routes.add(
    'post',
    '/v1/resource-definitions/:resource/drbd-proxy/enable/:node_a/:node_b',
    mutation(emu, (req) => ({ ctx: proxyCtx(req), successStatus: 200 }), (req, reply) => {
      const body = readBody(req, T.DrbdProxyEnable)
      const rd = requireRd(emu, param(req, 'resource'))
      const { c, a, b } = loadOrCreateConnection(emu, rd, param(req, 'node_a'), param(req, 'node_b'))
      const port = typeof body['port'] === 'number' ? body['port'] : undefined
      const src = typeof body['port_src'] === 'number' ? body['port_src'] : port
      const dst = typeof body['port_target'] === 'number' ? body['port_target'] : port
      const aIsFirst = nameKey(c.nodeA) === nameKey(a.name)
      const portA = proxyPort(emu, c.nodeA, aIsFirst ? src : dst, c.proxyPortA)
      c.proxyPortA = portA
      c.proxyPortB = proxyPort(emu, c.nodeB, aIsFirst ? dst : src, c.proxyPortB)
      if (!(c.flags ?? []).includes(PROXY_FLAG)) c.flags = [...(c.flags ?? []), PROXY_FLAG]
      c.props[PROTOCOL_KEY] = 'A'
      bare(emu, reply, RC.MODIFIED, `DRBD Proxy enabled on ${connDescription(a.name, b.name, rd.name)}`)
      notified(emu, rd, reply, 'proxy connection')
    }),
  )

  routes.add(
    'post',
    '/v1/resource-definitions/:resource/drbd-proxy/disable/:node_a/:node_b',
    mutation(emu, (req) => ({ ctx: proxyCtx(req), successStatus: 200 }), (req, reply) => {
      const rd = requireRd(emu, param(req, 'resource'))
      const { c, a, b } = loadOrCreateConnection(emu, rd, param(req, 'node_a'), param(req, 'node_b'))
      delete c.proxyPortA
      delete c.proxyPortB
      c.flags = (c.flags ?? []).filter((f) => f !== PROXY_FLAG)
      if (c.flags.length === 0) delete c.flags
      delete c.proxy
      c.props[AUTO_ENABLE_KEY] = 'false'
      bare(emu, reply, RC.MODIFIED, `DRBD Proxy disabled on ${connDescription(a.name, b.name, rd.name)}`)
      notified(emu, rd, reply, 'removed proxy connection')
    }),
  )

  routes.add(
    'put',
    '/v1/resource-definitions/:resource/drbd-proxy',
    // DrbdProxy.modifyProxy reads its body inside RequestHelper.doInScope.
    mutation(
      emu,
      (req) => ({ ctx: { op: MASK_MOD, obj: MASK_RSC_DFN, objRefs: { RscDfn: param(req, 'resource') }, objDescription: `Resource definition: ${param(req, 'resource')}` }, successStatus: 200, parse: 'sync' }),
      (req, reply) => {
        const body = readBody(req, T.DrbdProxyModify)
        const rd = requireRd(emu, param(req, 'resource'))
        const override = (body['override_props'] ?? {}) as Record<string, unknown>
        const del = Array.isArray(body['delete_props']) ? (body['delete_props'] as string[]) : []
        for (const [k, v] of Object.entries(override)) rd.props[k] = checkProxyOption(k, v)
        for (const k of del) {
          if (Object.hasOwn(rd.props, k)) delete rd.props[k]
          else reply.add(RC.WARN_DEL_UNSET_PROP, `Could not delete property '${k}' as it did not exist. This operation had no effect.`)
        }
        const type = body['compression_type']
        if (typeof type === 'string') {
          for (const k of Object.keys(rd.props)) if (k.startsWith(COMPRESSION_NS)) delete rd.props[k]
          if (type === 'none') {
            delete rd.props[COMPRESSION_KEY]
          } else {
            if (!COMPRESSION_TYPES.has(type)) throw new ApiRcError(RC.FAIL_INVLD_DRBD_PROXY_COMPRESSION_TYPE, `Unknown compression type '${type}'`)
            rd.props[COMPRESSION_KEY] = type
            for (const [k, v] of Object.entries((body['compression_props'] ?? {}) as Record<string, unknown>)) {
              const key = k.startsWith(COMPRESSION_NS) ? k : `${COMPRESSION_NS}${k}`
              rd.props[key] = normaliseProp(key, v)
            }
          }
        }
        // ApiSuccessUtils.defaultModifiedEntry(uuid, "proxy options for <rsc dfn>").
        reply.add(RC.MODIFIED, `Proxy options for resource definition '${rd.name}' modified.`, { details: `Proxy options for resource definition '${rd.name}' UUID is: ${rd.uuid}` })
      },
    ),
  )
}
