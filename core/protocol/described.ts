/**
 * What each platform's describe step gives `linstor-virt status`: one configured storage (a
 * storage.cfg section, a linstor datastore, a cinder.conf backend), how to reach its controllers,
 * and which LINSTOR resource definitions are its volumes under the platform's own names.
 */

/** A resource definition as far as naming needs it. */
export interface DefinitionRef {
  name: string
  props: Readonly<Record<string, string>>
  resourceGroup?: string
}

/** One volume under the platform's name for it. */
export interface PlatformVolume {
  /** The platform's name (a Proxmox volid, "image N", a Cinder volume id). */
  name: string
  /** The VM it belongs to, when the name says. */
  vm?: string
  note?: string
}

/** The files and addresses a storage's calls use to reach LINSTOR. */
export interface DescribedConnection<Controllers> {
  controllers?: Controllers
  tokenFile?: string
  caFile?: string
  certFile?: string
  keyFile?: string
}

export interface DescribedPlatformStorage<Platform extends string, Controllers = string> {
  platform: Platform
  id: string
  label: string
  connection: DescribedConnection<Controllers>
  /** The platform's name for a definition, or undefined when it is not one of this storage's volumes. */
  volumeOf(rd: DefinitionRef): PlatformVolume | undefined
}
