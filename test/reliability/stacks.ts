/**
 * Worlds for the layer stacks and the DR replica (issue 24), on the emulator's disaggregated
 * cluster (DISAGGREGATED_CLUSTER = emulator/clusters/disaggregated.yaml): each platform configured
 * natively for the stack (Proxmox storage.cfg keys, Cinder extra specs, OpenNebula datastore
 * attributes), or through a resource group that brings its own layer list.
 */
import { DISAGGREGATED_CLUSTER } from '../../emulator/index.js'
import type { Row } from './faults.js'
import { World } from './world.js'
import type { Adapter, Disk, WorldOptions } from './world.js'

export type StackName = 'nvme' | 'storage' | 'luks' | 'dr' | 'rg-nvme'

/** The resource group of the rg-nvme world: NVMe-oF by its own layer list. */
export const NVME_GROUP = 'nvme-group'

export const STACK_WORLDS: Readonly<Record<StackName, WorldOptions>> = {
  // Disaggregated NVMe-oF: targets on stor-1/2, VMs on compute-1/2 (no DRBD there).
  nvme: {
    cluster: DISAGGREGATED_CLUSTER,
    nodes: ['compute-1', 'compute-2'],
    frontEnd: 'compute-1',
    pve: { 'linstor-place-count': 1, 'linstor-layer-list': 'nvme,storage', 'linstor-storage-pools': 'nvmepool' },
    cinderSpecs: { 'linstor:redundancy': '1', 'linstor:layer_list': 'nvme,storage', 'linstor:storage_pool': 'nvmepool' },
    one: { LINSTOR_PLACE_COUNT: '1', LINSTOR_LAYER_LIST: 'nvme,storage', LINSTOR_STORAGE_POOLS: 'nvmepool', BRIDGE_LIST: 'compute-1' },
    placeCount: 1,
  },
  // Storage only on the hypervisors: usable where the data is.
  storage: {
    cluster: DISAGGREGATED_CLUSTER,
    nodes: ['hv-1', 'hv-2', 'hv-3'],
    frontEnd: 'hv-1',
    pve: { 'linstor-place-count': 1, 'linstor-layer-list': 'storage', 'linstor-storage-pools': 'hvpool' },
    cinderSpecs: { 'linstor:redundancy': '1', 'linstor:layer_list': 'storage', 'linstor:storage_pool': 'hvpool' },
    one: { LINSTOR_PLACE_COUNT: '1', LINSTOR_LAYER_LIST: 'storage', LINSTOR_STORAGE_POOLS: 'hvpool', BRIDGE_LIST: 'hv-1' },
    placeCount: 1,
  },
  // DRBD on LUKS: needs the controller's master passphrase (entered by stackWorld).
  luks: {
    cluster: DISAGGREGATED_CLUSTER,
    nodes: ['hv-1', 'hv-2', 'hv-3'],
    frontEnd: 'hv-1',
    pve: { 'linstor-layer-list': 'drbd,luks,storage', 'linstor-storage-pools': 'hvpool' },
    cinderSpecs: { 'linstor:layer_list': 'drbd,luks,storage', 'linstor:storage_pool': 'hvpool' },
    one: { LINSTOR_LAYER_LIST: 'drbd,luks,storage', LINSTOR_STORAGE_POOLS: 'hvpool', BRIDGE_LIST: 'hv-1' },
  },
  // DRBD with a DR replica on the DR site (dr-1) through DRBD Proxy.
  dr: {
    cluster: DISAGGREGATED_CLUSTER,
    nodes: ['hv-1', 'hv-2', 'hv-3'],
    frontEnd: 'hv-1',
    pve: { 'linstor-storage-pools': 'hvpool', 'linstor-dr-site': 'dr' },
    cinderSpecs: { 'linstor:storage_pool': 'hvpool', 'linstor:dr_site': 'dr' },
    one: { LINSTOR_STORAGE_POOLS: 'hvpool', LINSTOR_DR_SITE: 'dr', BRIDGE_LIST: 'hv-1' },
    dr: 'dr-1',
  },
  // NVMe-oF chosen by the named resource group's own layer list (no stack setting on the platform).
  'rg-nvme': {
    cluster: {
      ...DISAGGREGATED_CLUSTER,
      resource_groups: [{ name: NVME_GROUP, select_filter: { place_count: 1, layer_stack: ['NVME', 'STORAGE'], storage_pool: 'nvmepool' } }],
    },
    nodes: ['compute-1', 'compute-2'],
    frontEnd: 'compute-1',
    pve: { 'linstor-place-count': '', 'linstor-resource-group': NVME_GROUP },
    cinderSpecs: { 'linstor:redundancy': '', 'linstor:resource_group': NVME_GROUP },
    one: { LINSTOR_PLACE_COUNT: '', LINSTOR_RESOURCE_GROUP: NVME_GROUP, BRIDGE_LIST: 'compute-1' },
    placeCount: 1,
  },
}

/** Enters (creates) the controller's master passphrase, as an administrator does once. */
export async function enterPassphrase(w: World, passphrase = 'secret'): Promise<void> {
  const r = await fetch(`${w.emu.url}/v1/encryption/passphrase`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ new_passphrase: passphrase }) })
  if (!r.ok) throw new Error(`creating the master passphrase: HTTP ${r.status}`)
}

/** A world for one stack (the LUKS world with its passphrase entered). */
export async function stackWorld(stack: StackName, seed?: number): Promise<World> {
  const w = await World.create({ ...STACK_WORLDS[stack], ...(seed !== undefined ? { seed } : {}) })
  if (stack === 'luks') await enterPassphrase(w)
  return w
}

// ------------------------------------------------------------------ fault-matrix rows for the stacks

export interface StackRow extends Row {
  stack: StackName
}

const other = (nodes: readonly string[], not: string): string => nodes.find((n) => n !== not) ?? not

/** A VM disk of `adapter` running on the first spare node of the world. */
async function running(w: World, adapter: Adapter): Promise<{ d: Disk; host: string }> {
  const d = w.newDisk(adapter)
  await w.perform(adapter === 'proxmox' ? w.pveAlloc(d, w.frontEnd) : adapter === 'cinder' ? w.cinderCreate(d) : w.oneMkfs(d))
  const host = w.spare(d.resource).find((n) => !(w.options.dr !== undefined && n === w.options.dr)) ?? w.frontEnd
  await w.perform(adapter === 'proxmox' ? w.pveActivate(d, host) : adapter === 'cinder' ? w.cinderAttach(d, host) : w.oneLn(d, host))
  return { d, host }
}

/**
 * The stacks' operations under every fault (stacks-matrix.test.ts): NVMe-oF attach, migration
 * begin and end per platform and its create; the DR replica made with a volume (Proxmox, Cinder,
 * OpenNebula) and the proxy a new client needs; a LUKS create. `write` hits the operation's
 * middle where it has several writes (see Row.write).
 */
export const STACK_ROWS: readonly StackRow[] = [
  // ---------------------------------------------------------------- NVMe-oF
  {
    // The create: group, spawn, the local make-available (refused: compute-1 has no pool), autoplace.
    stack: 'nvme', adapter: 'proxmox', write: 4,
    prepare: (w) => {
      const d = w.newDisk('proxmox')
      return Promise.resolve({ disks: [d], step: w.pveAlloc(d, 'compute-1') })
    },
  },
  {
    // The initiator: the attach record first, then the initiator (write 2).
    stack: 'nvme', adapter: 'proxmox', write: 2,
    async prepare(w) {
      const d = w.newDisk('proxmox')
      await w.perform(w.pveAlloc(d, 'compute-1'))
      return { disks: [d], step: w.pveActivate(d, 'compute-1') }
    },
  },
  {
    // Migration begin: the record, then the target's initiator.
    stack: 'nvme', adapter: 'proxmox', write: 2,
    async prepare(w) {
      const { d, host } = await running(w, 'proxmox')
      return { disks: [d], step: w.pveActivate(d, other(w.nodes, host)) }
    },
  },
  {
    // Migration end: the source's initiator goes, then the record moves to the target.
    stack: 'nvme', adapter: 'proxmox', write: 1,
    async prepare(w) {
      const { d, host } = await running(w, 'proxmox')
      await w.perform(w.pveActivate(d, other(w.nodes, host)))
      return { disks: [d], step: w.pveDeactivate(d, host) }
    },
  },
  {
    stack: 'nvme', adapter: 'cinder', write: 2,
    async prepare(w) {
      const { d, host } = await running(w, 'cinder')
      return { disks: [d], step: w.cinderAttach(d, other(w.nodes, host)) }
    },
  },
  {
    stack: 'nvme', adapter: 'cinder', write: 1,
    async prepare(w) {
      const { d, host } = await running(w, 'cinder')
      return { disks: [d], step: w.cinderDetach(d, host) }
    },
  },
  {
    stack: 'nvme', adapter: 'opennebula', write: 2,
    async prepare(w) {
      const d = w.newDisk('opennebula')
      await w.perform(w.oneMkfs(d))
      return { disks: [d], step: w.oneLn(d, 'compute-1') }
    },
  },
  {
    stack: 'nvme', adapter: 'opennebula', write: 2,
    async prepare(w) {
      const { d, host } = await running(w, 'opennebula')
      return { disks: [d], step: w.onePremigrate(d, host, other(w.nodes, host)) }
    },
  },
  {
    stack: 'nvme', adapter: 'opennebula', write: 1,
    async prepare(w) {
      const { d, host } = await running(w, 'opennebula')
      const to = other(w.nodes, host)
      await w.perform(w.onePremigrate(d, host, to))
      return { disks: [d], step: w.onePostmigrate(d, host, to) }
    },
  },
  // ---------------------------------------------------------------- DR through DRBD Proxy
  {
    // The volume's create, then the DR replica and its proxies: hit the first proxy (the DR replica exists, unproxied).
    stack: 'dr', adapter: 'proxmox', write: 7,
    prepare: (w) => {
      const d = w.newDisk('proxmox')
      return Promise.resolve({ disks: [d], step: w.pveAlloc(d, 'hv-1') })
    },
  },
  {
    stack: 'dr', adapter: 'cinder', write: 6,
    prepare: (w) => {
      const d = w.newDisk('cinder')
      return Promise.resolve({ disks: [d], step: w.cinderCreate(d) })
    },
  },
  {
    stack: 'dr', adapter: 'opennebula', write: 6,
    prepare: (w) => {
      const d = w.newDisk('opennebula')
      return Promise.resolve({ disks: [d], step: w.oneMkfs(d) })
    },
  },
  {
    // A diskless client on a node without a replica: the client, then its proxy to the DR node.
    stack: 'dr', adapter: 'proxmox', write: 2,
    async prepare(w) {
      const d = w.newDisk('proxmox')
      await w.perform(w.pveAlloc(d, 'hv-1'))
      const client = w.spare(d.resource).find((n) => n !== 'dr-1') ?? 'hv-3'
      return { disks: [d], step: w.pveActivate(d, client) }
    },
  },
  // ---------------------------------------------------------------- LUKS
  {
    // Spawn, then the autoplace that makes the crypt layers.
    stack: 'luks', adapter: 'cinder', write: 4,
    prepare: (w) => {
      const d = w.newDisk('cinder')
      return Promise.resolve({ disks: [d], step: w.cinderCreate(d) })
    },
  },
]
