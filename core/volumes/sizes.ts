/**
 * Size rules, in one place. Platforms speak bytes (Proxmox's alloc_image speaks KiB and its adapter
 * converts); LINSTOR speaks KiB. A byte count is rounded UP to the next whole KiB, so a volume is
 * never smaller than asked for. LINSTOR and DRBD may round the usable size further up (to the
 * backing extent size, e.g. 4 MiB on LVM, plus DRBD metadata) unless the policy asks for exactSize.
 * Grow compares rounded sizes: equal is a no-op, smaller is SHRINK_REFUSED.
 */
import { ConfigError } from '../errors/index.js'

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB
export const TiB = 1024 * GiB

/** Bytes to whole KiB, rounding up; rejects what is not a positive safe integer. */
export function bytesToKib(bytes: number, setting = 'size'): number {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ConfigError([{ setting, problem: `must be a positive whole number of bytes, got ${String(bytes)}` }])
  }
  return Math.ceil(bytes / KiB)
}

/** KiB to bytes. */
export function kibToBytes(kib: number): number {
  return kib * KiB
}

/** 10737418240 → "10 GiB"; for messages and tables. */
export function formatBytes(bytes: number): string {
  const units: [number, string][] = [[TiB, 'TiB'], [GiB, 'GiB'], [MiB, 'MiB'], [KiB, 'KiB']]
  for (const [size, unit] of units) {
    if (bytes >= size) {
      const v = bytes / size
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`
    }
  }
  return `${bytes} B`
}
