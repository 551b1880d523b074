/**
 * DRBD Proxy on a resource connection, as the emulated satellites see it.
 *
 * The controller side follows linstor-server: CtrlDrbdProxyEnableApiCallHandler /
 * CtrlDrbdProxyHelper.enableProxy (the connection gets the LOCAL_DRBD_PROXY flag, a proxy port
 * per side, auto-allocated unless given, and `DrbdOptions/Net/protocol` = A "as default"),
 * CtrlDrbdProxyDisableApiCallHandler (ports unset, flag cleared, `DrbdProxy/AutoEnable` = false on
 * the connection; the protocol property stays) and CtrlDrbdProxyModifyApiCallHandler (options on
 * the resource definition: `DrbdOptions/Proxy/*`, `DrbdProxy/CompressionType` and
 * `DrbdOptions/ProxyCompression/*`, which a new compression type clears).
 *
 * The data side is a model, not LINSTOR's code (docs/emulator.md): what the Primary writes
 * towards a peer behind a proxied connection is buffered by the proxy and drained at an emulated
 * WAN bandwidth (EmulatorOptions.proxyBandwidthKibPerS, default 20 MiB/s of the clock), faster
 * with compression (a guessed ratio per type). With protocol A DRBD does not wait for the buffer:
 * while it holds no more than the proxy's memlimit the connection stays Established; beyond it
 * DRBD pulls ahead (on-congestion pull-ahead, what LINBIT recommends with DRBD Proxy): the Primary
 * reports the peer Ahead and the peer Behind (Outdated), and once the backlog fits again they
 * resync (SyncSource/SyncTarget with done_percentage) until Established. One data file per volume
 * still serves every replica: the lag is visible in the states, not in the bytes.
 */
import type { Emu } from './context.js'
import type { JsonValue } from './json-writer.js'
import type { ProxyBacklogState, ResourceConnectionState, ResourceDefinitionState, ResourceState } from './model.js'
import { connectionKey, findRg, prioProp, replicas } from './model.js'
import { nameKey } from './names.js'

export const PROXY_FLAG = 'LOCAL_DRBD_PROXY'
export const PROTOCOL_KEY = 'DrbdOptions/Net/protocol'
export const MEMLIMIT_KEY = 'DrbdOptions/Proxy/memlimit'
export const COMPRESSION_KEY = 'DrbdProxy/CompressionType'
/** KiB/s of the emulated WAN link when nothing else is configured. */
export const DEFAULT_PROXY_BANDWIDTH_KIB_PER_S = 20 * 1024
/** DRBD Proxy's memlimit when none is set: LINSTOR's smallest allowed value (16 MiB), a guess. */
export const DEFAULT_MEMLIMIT_BYTES = 16 * 1024 * 1024
/** How much a compression type shrinks the data on the wire: guessed ratios. */
const COMPRESSION_RATIO: Readonly<Record<string, number>> = { lz4: 2, zlib: 3, zstd: 3, lzma: 4 }

export function isProxied(c: ResourceConnectionState | undefined): boolean {
  return c?.flags?.includes(PROXY_FLAG) === true
}

function rdProp(emu: Emu, rd: ResourceDefinitionState, key: string): string | undefined {
  return prioProp(key, rd.props, findRg(emu.state, rd.resourceGroup)?.props, emu.state.controllerProps)
}

export function proxyRateKibPerS(emu: Emu, rd: ResourceDefinitionState): number {
  const base = emu.proxyBandwidthKibPerS ?? DEFAULT_PROXY_BANDWIDTH_KIB_PER_S
  return base * (COMPRESSION_RATIO[(rdProp(emu, rd, COMPRESSION_KEY) ?? '').toLowerCase()] ?? 1)
}

export function memlimitKib(emu: Emu, rd: ResourceDefinitionState): number {
  const raw = Number(rdProp(emu, rd, MEMLIMIT_KEY))
  return (Number.isFinite(raw) && raw > 0 ? raw : DEFAULT_MEMLIMIT_BYTES) / 1024
}

/** The backlog as of now (the proxy keeps sending while nobody looks). */
function current(emu: Emu, rd: ResourceDefinitionState, b: ProxyBacklogState): number {
  const elapsed = Math.max(0, emu.clock().getTime() - b.at)
  return Math.max(0, b.backlogKib - (proxyRateKibPerS(emu, rd) * elapsed) / 1000)
}

type Phase = { kind: 'established' } | { kind: 'ahead' } | { kind: 'resync'; done: number }

function phaseOf(emu: Emu, rd: ResourceDefinitionState, b: ProxyBacklogState | undefined): Phase {
  if (b === undefined) return { kind: 'established' }
  const now = current(emu, rd, b)
  if (now <= 0 || !b.pulledAhead) return { kind: 'established' }
  if (now > memlimitKib(emu, rd)) return { kind: 'ahead' }
  return { kind: 'resync', done: b.peakKib > 0 ? Math.min(99, Math.floor(100 * (1 - now / b.peakKib))) : 99 }
}

/** The Primary on `writer` wrote `bytes`: every diskful peer behind a proxied connection gets them through the proxy's buffer. True when a buffer changed (the state must be saved). */
export function recordWrite(emu: Emu, rd: ResourceDefinitionState, writer: string, bytes: number): boolean {
  const now = emu.clock().getTime()
  let changed = false
  for (const p of replicas(rd)) {
    if (nameKey(p.node) === nameKey(writer) || p.kind !== 'diskful') continue
    const c = rd.connections[connectionKey(writer, p.node)]
    if (c === undefined || !isProxied(c)) continue
    const prev = c.proxy !== undefined && nameKey(c.proxy.to) === nameKey(p.node) ? c.proxy : undefined
    const left = prev === undefined ? 0 : current(emu, rd, prev)
    const synced = left <= 0
    const backlogKib = left + bytes / 1024
    const pulledAhead = (!synced && prev?.pulledAhead === true) || backlogKib > memlimitKib(emu, rd)
    c.proxy = { backlogKib, at: now, peakKib: synced ? backlogKib : Math.max(prev?.peakKib ?? 0, backlogKib), pulledAhead, to: p.node }
    changed = true
  }
  return changed
}

/** `r`'s replication state towards peer `p` (Volume.state.replication_states). */
export function replicationState(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, p: ResourceState): JsonValue {
  const c = rd.connections[connectionKey(r.node, p.node)]
  const b = isProxied(c) ? c?.proxy : undefined
  const phase = phaseOf(emu, rd, b)
  if (b === undefined || phase.kind === 'established') return { replication_state: 'Established', done_percentage: 100 }
  const sending = nameKey(b.to) === nameKey(p.node)
  if (phase.kind === 'ahead') return { replication_state: sending ? 'Ahead' : 'Behind', done_percentage: 100 }
  return { replication_state: sending ? 'SyncSource' : 'SyncTarget', done_percentage: phase.done }
}

/** The disk state of a replica that receives through a lagging proxy: Outdated while behind, Inconsistent while it resyncs. */
export function proxyDiskState(emu: Emu, rd: ResourceDefinitionState, r: ResourceState, _vlmNr: number): string | undefined {
  for (const c of Object.values(rd.connections)) {
    const b = c.proxy
    if (!isProxied(c) || b === undefined || nameKey(b.to) !== nameKey(r.node)) continue
    const phase = phaseOf(emu, rd, b)
    if (phase.kind === 'ahead') return 'Outdated'
    if (phase.kind === 'resync') return 'Inconsistent'
  }
  return undefined
}

/** For the control endpoint: each proxied connection with its backlog now. */
export function proxyStatus(emu: Emu, rd: ResourceDefinitionState): JsonValue[] {
  return Object.values(rd.connections)
    .filter((c) => isProxied(c))
    .map((c) => {
      const b = c.proxy
      const phase = phaseOf(emu, rd, b)
      return {
        node_a: c.nodeA,
        node_b: c.nodeB,
        to: b?.to ?? '',
        backlog_kib: b === undefined ? 0 : Math.ceil(current(emu, rd, b)),
        state: phase.kind,
        ...(phase.kind === 'resync' ? { done_percentage: phase.done } : {}),
        protocol: c.props[PROTOCOL_KEY] ?? 'C',
        rate_kib_per_s: proxyRateKibPerS(emu, rd),
        memlimit_kib: memlimitKib(emu, rd),
      }
    })
}
