/**
 * What a test's listener that others could reach (a group socket, the TCP listener) allows: an
 * AccessPolicy (core/protocol/access.ts) with one profile of the test's controllers and credential
 * files, its folders and device roots.
 */
import { AccessPolicy } from '../../core/protocol/access.js'

export interface Allowing {
  controllers: readonly string[]
  tokenFile?: string
  caFile?: string
  certFile?: string
  keyFile?: string
  folders?: readonly string[]
  deviceRoots?: readonly string[]
  platforms?: readonly string[]
}

export function allowing(a: Allowing): AccessPolicy {
  const { controllers, folders, deviceRoots, platforms, ...files } = a
  return new AccessPolicy({
    listener: 'the test listener',
    platforms: platforms ?? ['core', 'proxmox', 'cinder'],
    rules: () => ({ profiles: [{ source: 'the test', controllers, ...files }], folders: folders ?? [], deviceRoots: deviceRoots ?? [] }),
  })
}
