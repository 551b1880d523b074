/**
 * Changes to the emulator's state as transactions, without copying the state.
 *
 * A change runs against a view of the state (a Proxy over each object it reaches) that writes
 * through to the real objects and notes, for every property it sets or deletes, the value that was
 * there before (an undo log), and which top-level entry the write belongs to (a resource
 * definition, node, resource group or clone by its key, or a top-level field such as the
 * controller's properties). A change that fails is undone from the log, in reverse order; one that
 * succeeds leaves the log behind and hands the entries it touched to persistence, which writes
 * only those (persistence.ts). Reads cost a trap each; nothing is copied up front, so a change costs
 * what it touches, not the size of the state.
 *
 * Values written into the state are stored without their views (a view never ends up inside the
 * state, so the state stays plain data that structuredClone and JSON take as before). Once the
 * change is over, views that escaped it (a value returned from it) read and write through without
 * noting anything.
 */
import type { EmulatorState } from './model.js'

/** The top-level maps of the state whose entries are persisted one by one. */
export const COLLECTIONS: ReadonlySet<string> = new Set(['nodes', 'resourceGroups', 'resourceDefinitions', 'clones'])

/** A touched entry: "<collection>\u0000<key>", or a top-level field's name. */
export type EntryKey = string

export const SEPARATOR = '\u0000'

type Kind = 'root' | 'collection' | 'entry'

export class Transaction {
  /** The state as the change sees it. */
  readonly state: EmulatorState
  /** The entries written to. */
  readonly touched = new Set<EntryKey>()
  // The undo log: target, key, whether it had the key, the value it had (four slots per write).
  readonly #log: unknown[] = []
  readonly #views = new WeakMap<object, object>()
  readonly #targets = new WeakMap<object, object>()
  #open = true

  constructor(root: EmulatorState) {
    this.state = this.#view(root, 'root', '') as EmulatorState
  }

  /** Reverts every write of the change, newest first. */
  undo(): void {
    const log = this.#log
    for (let i = log.length - 4; i >= 0; i -= 4) {
      const target = log[i] as Record<PropertyKey, unknown>
      const key = log[i + 1] as PropertyKey
      if (log[i + 2] === true) target[key] = log[i + 3]
      else delete target[key]
    }
    log.length = 0
  }

  /** Ends the change: its views no longer note writes (they still reach the real objects). */
  close(): void {
    this.#open = false
  }

  #note(target: object, key: PropertyKey, entry: EntryKey): void {
    this.#log.push(target, key, Object.hasOwn(target, key), (target as Record<PropertyKey, unknown>)[key])
    this.touched.add(entry)
  }

  /** The entry a write to `key` of an object of this kind belongs to. */
  static #entryOf(kind: Kind, at: string, key: PropertyKey): EntryKey {
    if (kind === 'root') return String(key)
    if (kind === 'collection') return `${at}${SEPARATOR}${String(key)}`
    return at
  }

  /** A value as the state keeps it: views replaced by their objects, also inside new objects. */
  #raw(v: unknown): unknown {
    if (typeof v !== 'object' || v === null) return v
    const target = this.#targets.get(v)
    if (target !== undefined) return target
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i]
        if (typeof item === 'object' && item !== null) {
          const r = this.#raw(item)
          if (r !== item) v[i] = r
        }
      }
    } else {
      const o = v as Record<string, unknown>
      for (const k of Object.keys(o)) {
        const item = o[k]
        if (typeof item === 'object' && item !== null) {
          const r = this.#raw(item)
          if (r !== item) o[k] = r
        }
      }
    }
    return v
  }

  #view(target: object, kind: Kind, at: string): object {
    const known = this.#views.get(target)
    if (known !== undefined) return known
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const tx = this
    const view = new Proxy(target, {
      get(t, key) {
        const v: unknown = (t as Record<PropertyKey, unknown>)[key]
        if (!tx.#open || typeof v !== 'object' || v === null || typeof key === 'symbol') return v
        if (kind === 'root') return COLLECTIONS.has(key) ? tx.#view(v, 'collection', key) : tx.#view(v, 'entry', key)
        return tx.#view(v, 'entry', kind === 'collection' ? `${at}${SEPARATOR}${key}` : at)
      },
      set(t, key, value) {
        if (tx.#open) tx.#note(t, key, Transaction.#entryOf(kind, at, key))
        ;(t as Record<PropertyKey, unknown>)[key] = tx.#raw(value)
        return true
      },
      deleteProperty(t, key) {
        if (tx.#open && Object.hasOwn(t, key)) tx.#note(t, key, Transaction.#entryOf(kind, at, key))
        return Reflect.deleteProperty(t, key)
      },
      defineProperty(t, key, desc) {
        if (tx.#open) tx.#note(t, key, Transaction.#entryOf(kind, at, key))
        return Reflect.defineProperty(t, key, 'value' in desc ? { ...desc, value: tx.#raw(desc.value) } : desc)
      },
    })
    this.#views.set(target, view)
    this.#targets.set(view, target)
    return view
  }
}
