/**
 * The linstor datastores of a `onedatastore show -x` / `onedatastore list -x` document as
 * `linstor-virt status` shows them: which LINSTOR resources are each datastore's (the Aux/one/DS_ID
 * this driver writes; addon-linstor's resources without it by their name and the datastore's
 * resource group) and what OpenNebula calls each (image N, VM N disk M).
 */
import { isPluginError } from '../../core/errors/index.js'
import { policyGroupName } from '../../core/placement/index.js'
import { AUX_DISK_ID, AUX_DS_ID, AUX_IMAGE_ID, AUX_VM_ID } from './names.js'
import { oneSettings } from './settings.js'
import { parseXml } from './xml.js'
import type { XmlElement } from './xml.js'
import type { DefinitionRef, DescribedPlatformStorage, PlatformVolume } from '../../core/protocol/index.js'

export interface DescribedDatastore extends DescribedPlatformStorage<'opennebula'> {
  resourceGroup: string
}

export interface DescribedDatastores {
  datastores: DescribedDatastore[]
  /** Linstor datastores whose attributes are wrong (named with the attribute), one line each. */
  problems: string[]
}

const IMAGE = /^OpenNebula-Image-([0-9]+)$/
const VOLATILE = /^OpenNebula-Volatile-vm([0-9]+)-disk([0-9]+)$/
const CLONE = /^(.+)-vm([0-9]+)-disk([0-9]+)$/

/** OpenNebula's name for one of its resources, from the name's shape and the Aux properties. */
function oneName(rd: DefinitionRef): PlatformVolume {
  const v = VOLATILE.exec(rd.name)
  if (v !== null) return { name: `VM ${v[1] ?? ''} disk ${v[2] ?? ''}`, vm: v[1] ?? '', note: 'volatile' }
  const i = IMAGE.exec(rd.name)
  if (i !== null) return { name: `image ${i[1] ?? ''}` }
  const c = CLONE.exec(rd.name)
  if (c !== null) return { name: `VM ${c[2] ?? ''} disk ${c[3] ?? ''}`, vm: c[2] ?? '', note: `clone of ${c[1] ?? ''}` }
  const vm = rd.props[AUX_VM_ID]
  const disk = rd.props[AUX_DISK_ID]
  if (vm !== undefined) return { name: `VM ${vm} disk ${disk ?? '?'}`, vm }
  const image = rd.props[AUX_IMAGE_ID]
  return { name: image !== undefined ? `image ${image}` : rd.name }
}

function isLinstorDatastore(ds: XmlElement): boolean {
  return ds.get('DS_MAD') === 'linstor' || ds.get('TM_MAD') === 'linstor'
}

/** A DATASTORE or DATASTORE_POOL document; only linstor datastores (DS_MAD or TM_MAD linstor) are described. */
export function describeDatastores(xml: string): DescribedDatastores {
  const root = parseXml(xml)
  const all = root.name === 'DATASTORE_POOL' ? root.children('DATASTORE') : root.name === 'DATASTORE' ? [root] : []
  if (root.name !== 'DATASTORE_POOL' && root.name !== 'DATASTORE') throw new Error(`expected a <DATASTORE> or <DATASTORE_POOL> document, got <${root.name}>`)
  const out: DescribedDatastores = { datastores: [], problems: [] }
  for (const ds of all.filter(isLinstorDatastore)) {
    let settings
    try {
      settings = oneSettings(ds)
    } catch (err) {
      if (!isPluginError(err)) throw err
      out.problems.push(err.message)
      continue
    }
    const id = settings.dsId
    const group = policyGroupName(settings.policy)
    const key = group.toLowerCase()
    const image = settings.type === '0' || settings.type === 'IMAGE_DS' || ds.get('DS_MAD') === 'linstor'
    const c = settings.core
    const text = (k: string): string | undefined => (typeof c[k] === 'string' ? (c[k]) : undefined)
    out.datastores.push({
      platform: 'opennebula',
      id,
      label: `opennebula datastore ${id}${settings.dsName !== '' ? ` (${settings.dsName})` : ''}`,
      resourceGroup: group,
      connection: Object.fromEntries(['controllers', 'tokenFile', 'caFile', 'certFile', 'keyFile'].flatMap((k) => (text(k) !== undefined ? [[k, text(k)]] : []))),
      volumeOf: (rd) => {
        const owner = rd.props[AUX_DS_ID]
        if (owner !== undefined) return owner === id ? oneName(rd) : undefined
        // addon-linstor wrote no DS_ID: its images (and their clones) by name, in this datastore's group.
        if (!image || (rd.resourceGroup ?? '').toLowerCase() !== key) return undefined
        const base = CLONE.exec(rd.name)?.[1] ?? rd.name
        return IMAGE.test(base) ? oneName(rd) : undefined
      },
    })
  }
  return out
}
