/**
 * Shared parts of the Proxmox end-to-end tests in the REAL Proxmox VE storage library
 * (test/integration/proxmox-e2e-pve<8|9>-<group>.test.ts, flows in pve-e2e-<group>.ts): the
 * invariants every flow ends with, where a volume's replicas are, and QEMU's reads and writes
 * (the emulator's control: a node's device file, opened and closed as QEMU does).
 *
 * Every PVE action goes through PVE::Storage (or the API and CLI handlers) of the release under
 * test, on the node that would run it, with the plugin loaded by PVE's own loader and forwarding
 * to a real agent; only QEMU's use of the device is the emulator's control.
 */
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import type { PveReal } from './pve-real.js'

export const ALLOW = 'DrbdOptions/Net/allow-two-primaries'
export const MIGRATION = 'Aux/linstor-virt/migration'

/** The resource of a volume id of the linstor storage (`lv:vm-100-disk-0` → `vm-100-disk-0`; a linked clone's own name). */
export function rscOf(volid: string): string {
  const volname = volid.slice(volid.indexOf(':') + 1)
  return volname.slice(volname.lastIndexOf('/') + 1)
}

/** Nodes with a disk for `rsc`, and the cluster's PVE nodes without one. */
export async function nodesOf(pve: PveReal, rsc: string): Promise<{ diskful: string[]; other: string[] }> {
  const view = await pve.client.view.resources({ resources: [rsc] })
  const diskful = view.filter((r) => !r.flags.includes('DRBD_DISKLESS')).map((r) => r.node_name).sort()
  return { diskful, other: Object.keys(pve.nodes).filter((n) => !diskful.includes(n)).sort() }
}

/** The steady state between operations: what users judge a plugin by. */
export async function invariants(pve: PveReal, rsc: string, primaries: string[], diskful = 2): Promise<void> {
  const view = await pve.client.view.resources({ resources: [rsc] })
  const rd = await pve.client.resourceDefinitions.get(rsc)
  assert.ok(rd !== undefined, `${rsc} exists`)
  const roles = pve.emu.control.roles(rsc)
  assert.deepEqual(Object.entries(roles).filter(([, r]) => r === 'Primary').map(([n]) => n).sort(), [...primaries].sort(), `${rsc}: Primary only on ${primaries.join(', ') || 'no node'}`)
  assert.equal(rd.props[MIGRATION], undefined, `${rsc}: no migration record left`)
  assert.equal(rd.props[ALLOW], undefined, `${rsc}: no allow-two-primaries on the definition`)
  for (const c of await pve.client.resourceDefinitions.connections(rsc)) assert.equal(c.props[ALLOW], undefined, `${rsc}: no allow-two-primaries on ${c.node_a}-${c.node_b}`)
  const idle = view.filter((r) => r.flags.includes('DRBD_DISKLESS') && !r.flags.includes('TIE_BREAKER') && r.state?.in_use !== true)
  assert.deepEqual(idle.map((r) => r.node_name), [], `${rsc}: no unused diskless client`)
  assert.equal(view.filter((r) => !r.flags.includes('DRBD_DISKLESS')).length, diskful, `${rsc}: ${diskful} diskful replicas`)
}

/** QEMU on `node` writes `data` at `offset` (opens the device for the write unless `keepOpen` says it is open). */
export function qemuWrite(pve: PveReal, node: string, rsc: string, offset: number, data: Buffer, keepOpen = false): void {
  if (!keepOpen) pve.emu.control.open(node, rsc)
  pve.emu.control.write(node, rsc, 0, offset, data)
  if (!keepOpen) pve.emu.control.close(node, rsc)
}

/** QEMU on `node` reads `length` bytes at `offset`. */
export function qemuRead(pve: PveReal, node: string, rsc: string, offset: number, length: number, keepOpen = false): Buffer {
  if (!keepOpen) pve.emu.control.open(node, rsc)
  try {
    return pve.emu.control.read(node, rsc, 0, offset, length)
  } finally {
    if (!keepOpen) pve.emu.control.close(node, rsc)
  }
}

/** The emulator's write requests (everything but GET) since its counters were last reset. */
export function writeCalls(pve: PveReal): [string, number][] {
  return Object.entries(pve.emu.counters()).filter(([k]) => !k.startsWith('GET '))
}

/** `vdisk_alloc` on `node` as qemu-server calls it for a new disk (name chosen by the storage); answers the volume id. */
export async function newDisk(pve: PveReal, node: string, vmid: number, sizeKib: number, storeid = pve.storeid): Promise<string> {
  const volid = await pve.call(node, 'vdisk_alloc', [storeid, vmid, null, null, sizeKib])
  assert.equal(typeof volid, 'string')
  return volid as string
}

/**
 * One flow as a subtest of a test that shares its cluster: besides its own checks, no call may
 * have raised a Perl warning (the plugin's, or PVE's about the plugin) unless `expected` names it.
 */
export async function flow(t: TestContext, name: string, pve: PveReal, run: () => Promise<void>, expected: RegExp[] = []): Promise<void> {
  await t.test(name, async () => {
    pve.warnings()
    await run()
    assert.deepEqual(pve.warnings().filter((w) => !expected.some((re) => re.test(w))), [], 'no warnings')
  })
}
