/** Reading and writing a stretch of an emulated device file (the sandbox stories' VM stand-in). */
import { closeSync, openSync, readSync, writeSync } from 'node:fs'

export function readRange(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.alloc(length)
    readSync(fd, buf, 0, length, offset)
    return buf
  } finally {
    closeSync(fd)
  }
}

export function writeAt(path: string, offset: number, data: Buffer): void {
  const fd = openSync(path, 'r+')
  try {
    writeSync(fd, data, 0, data.length, offset)
  } finally {
    closeSync(fd)
  }
}
