/**
 * Revert a disk to any of its snapshots, keeping the newer ones (OpenNebula's ALLOW_ORPHANS=yes).
 * Where LINSTOR rolls back to any snapshot (controller 1.31+, unless a ZFS rollback strategy of
 * Rollback) that is one LINSTOR rollback. Elsewhere the newest is a rollback, and an older one is
 * restored into a temporary resource whose bytes a host holding both copies back over the disk
 * with dd, after which the temporary resource goes. No snapshot is lost either way.
 */
import { PluginError } from '../../core/errors/index.js'
import type { Storage } from '../../core/storage/index.js'
import { fitName } from '../../core/volumes/index.js'
import type { OneCall } from './call.js'
import { shellCommand } from './remote.js'

/** `host` copies the bytes (the VM's host for a TM revert); default: a node with a diskful replica. */
export async function revertToSnapshot(call: OneCall, storage: Storage, resource: string, snapshot: string, host?: string): Promise<void> {
  const h = storage.resource(resource)
  let newer: string[]
  try {
    // Also the existence check: SNAPSHOT_NOT_FOUND when the resource has no such snapshot.
    await h.rollback(snapshot)
    call.info(`${resource} rolled back to ${snapshot}`)
    return
  } catch (err) {
    // Refused before anything changed: this controller (or the pool's ZFS strategy) rolls back to
    // the newest snapshot only; the refusal names the newer ones.
    if (!(err instanceof PluginError && err.code === 'ROLLBACK_BLOCKED')) throw err
    newer = String(err.context['blockers'] ?? '').split(',').filter((b) => b !== '')
  }
  const info = await h.info()
  const node = host ?? info?.replicas.find((r) => r.kind === 'diskful')?.node
  if (node === undefined) throw new PluginError('RESOURCE_NOT_FOUND', `${resource} has no replica to revert on`)
  // Shortened with a hash where needed: two long resources never share a temporary one.
  const temp = fitName('', resource, '-rv')
  const t = storage.resource(temp)
  if (await t.exists()) await t.delete({ snapshots: true })
  call.info(`${resource}: reverting to ${snapshot} while keeping the newer ${newer.join(', ')} (copy through ${node})`)
  await h.cloneTo(temp, { snapshot })
  try {
    const hadClient = (await h.attach(node, { migrate: false })).created
    await t.attach(node, { migrate: false })
    await call.remote.run(node, shellCommand(['dd', `if=${call.device(node, temp)}`, `of=${call.device(node, resource)}`, 'bs=4M', 'conv=notrunc,fsync', 'status=none']), { signal: call.ctx.signal, timeoutMs: call.ctx.remainingMs() })
    if (hadClient && host === undefined) await h.detach(node)
  } finally {
    await t.delete({ snapshots: true })
  }
}
