/**
 * A cinder.conf backend section as `linstor-virt status` shows it: the LINSTOR resources that are
 * Cinder volumes (Aux/cinder/volume-id, else a CV_<id> or volume-<id> name) with the volume id
 * Cinder knows each by. Backends on the same controllers see the same volumes: which backend a
 * volume belongs to is in Cinder's database, not in LINSTOR.
 */
import { cinderSettings, AUX_VOLUME_ID } from './settings.js'
import type { DescribedPlatformStorage } from '../../core/protocol/index.js'

export interface DescribedBackend extends DescribedPlatformStorage<'cinder', readonly string[]> {
  resourceGroup?: string
}

const BY_NAME = /^(?:CV_|volume-)([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/

/**
 * @param config the backend's options as the Python shim sends them (plugins/openstack-cinder/CONTRACT.md).
 * @throws ConfigError naming each bad option, as the backend's own calls would.
 */
export function describeBackend(config: Readonly<Record<string, unknown>>): DescribedBackend {
  const s = cinderSettings(config)
  const c = s.core
  const text = (k: string): string | undefined => (typeof c[k] === 'string' ? (c[k]) : undefined)
  return {
    platform: 'cinder',
    id: s.backend,
    label: `cinder backend ${s.backend}${s.volumeBackendName !== s.backend ? ` (volume_backend_name ${s.volumeBackendName})` : ''}`,
    ...(s.defaultResourceGroup !== undefined ? { resourceGroup: s.defaultResourceGroup } : {}),
    connection: {
      ...(s.controllers.length > 0 ? { controllers: s.controllers } : {}),
      ...Object.fromEntries(['tokenFile', 'caFile', 'certFile', 'keyFile'].flatMap((k) => (text(k) !== undefined ? [[k, text(k)]] : []))),
    },
    volumeOf: (rd) => {
      const id = rd.props[AUX_VOLUME_ID]
      if (id !== undefined) return { name: `volume ${id}` }
      const m = BY_NAME.exec(rd.name)
      return m !== null ? { name: `volume ${(m[1] ?? '').toLowerCase()}`, note: 'by name' } : undefined
    },
  }
}
