// A node:test reporter that names what was running when a test file timed out. node:test reports a
// file that runs past --test-timeout only as "test timed out after N ms" on the file itself; this
// reporter follows every file's running tests (dequeued, not yet complete) and, on such a timeout,
// prints the file and the path of the subtest(s) still running. It prints nothing else, so it runs
// beside the spec reporter (scripts/test.mjs sends it to stderr).
export default async function* watch(source) {
  /** file -> running tests, each as its path of names from the file's top level. */
  const running = new Map()
  /** file -> the current path of test names by nesting level. */
  const stacks = new Map()
  for await (const ev of source) {
    const d = ev.data ?? {}
    const file = d.file
    if (file === undefined) continue
    const isFile = d.name === file && d.nesting === 0
    if (ev.type === 'test:dequeue' && !isFile) {
      const stack = stacks.get(file) ?? []
      stack.length = d.nesting
      stack.push(d.name)
      stacks.set(file, stack)
      const set = running.get(file) ?? new Set()
      set.add(stack.join(' › '))
      running.set(file, set)
    } else if (ev.type === 'test:complete' && !isFile) {
      const stack = stacks.get(file) ?? []
      running.get(file)?.delete([...stack.slice(0, d.nesting), d.name].join(' › '))
    } else if (ev.type === 'test:fail' && isFile && d.details?.error?.failureType === 'testTimeoutFailure') {
      const open = [...(running.get(file) ?? [])]
      const inner = open.filter((p) => !open.some((q) => q !== p && q.startsWith(p + ' › ')))
      yield `\n✖ ${file}: ${d.details.error.message ?? 'timed out'}, while running: ${inner.length > 0 ? inner.join('; ') : '(no test had started)'}\n`
    }
  }
}
