/**
 * A per-key cache of asynchronous answers with a bounded age: a fresh answer is returned at once,
 * concurrent callers of a stale or missing key share one load, and a failed load is not kept.
 */
export class SharedCache<T> {
  readonly #now: () => number
  readonly #values = new Map<string, { value: T; at: number }>()
  readonly #inflight = new Map<string, Promise<T>>()

  constructor(now: () => number) {
    this.#now = now
  }

  get(key: string, maxAgeMs: number, load: () => Promise<T>): Promise<T> {
    const hit = this.#values.get(key)
    if (hit !== undefined && this.#now() - hit.at < maxAgeMs) return Promise.resolve(hit.value)
    const running = this.#inflight.get(key)
    if (running !== undefined) return running
    const work = load()
      .then((value) => {
        this.#values.set(key, { value, at: this.#now() })
        return value
      })
      .finally(() => this.#inflight.delete(key))
    this.#inflight.set(key, work)
    return work
  }

  /** Forgets one key, or every key. */
  invalidate(key?: string): void {
    if (key === undefined) this.#values.clear()
    else this.#values.delete(key)
  }
}
