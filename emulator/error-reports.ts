/**
 * Error reports, as the controller's ErrorReporter files them: an id per report
 * ("<instance>-<module>-<counter>", the instance being the controller's start time in seconds as
 * 8 hex digits, e.g. 608C05B6-00000-000001), a file ErrorReport-<id>.log, and the fields
 * `GET /v1/error-reports` lists (api/rest/v1/ErrorReports.java: node_name, error_time, filename,
 * module, version, peer, exception, exception_message, origin_*, text with withContent).
 *
 * The emulator files one wherever the controller's REST layer calls errorReporter.reportError:
 * a request body that cannot be parsed in a synchronous handler (RequestHelper.doInScope) or
 * outside any handler (GrizzlyHttpService's LinstorMapper), and unexpected exceptions. They are
 * kept in memory (the real controller writes them to its log directory and keeps them across
 * restarts); the text is our own short rendering of the real report's header.
 */

export interface ErrorReportEntry {
  id: string
  /** Milliseconds since the epoch. */
  time: number
  node: string
  module: 'CONTROLLER'
  version: string
  peer?: string
  /** Simple class name of the exception. */
  exception: string
  exceptionMessage: string
}

/** The most reports kept; older ones go first (the real controller archives by age). */
const MAX_REPORTS = 1000

export class ErrorReportStore {
  readonly #instance: string
  readonly #node: string
  readonly #version: () => string
  #counter = 0
  readonly #reports: ErrorReportEntry[] = []

  constructor(startedAt: Date, node: string, version: () => string) {
    this.#instance = Math.floor(startedAt.getTime() / 1000).toString(16).toUpperCase().padStart(8, '0').slice(-8)
    this.#node = node
    this.#version = version
  }

  /** Files a report and returns its id. */
  add(exception: string, message: string, when: Date, peer?: string): string {
    const id = `${this.#instance}-00000-${String(this.#counter++).padStart(6, '0')}`
    const r: ErrorReportEntry = { id, time: when.getTime(), node: this.#node, module: 'CONTROLLER', version: this.#version(), exception, exceptionMessage: message }
    if (peer !== undefined) r.peer = peer
    this.#reports.push(r)
    if (this.#reports.length > MAX_REPORTS) this.#reports.splice(0, this.#reports.length - MAX_REPORTS)
    return id
  }

  /** Reports matching the filters, oldest first (CtrlErrorListApiCallHandler sorts by time). */
  list(filter: { node?: string; ids?: readonly string[]; since?: number; to?: number } = {}): ErrorReportEntry[] {
    return this.#reports.filter(
      (r) =>
        (filter.node === undefined || r.node.toLowerCase() === filter.node.toLowerCase()) &&
        (filter.ids === undefined || filter.ids.length === 0 || filter.ids.some((i) => r.id.startsWith(i))) &&
        (filter.since === undefined || r.time >= filter.since) &&
        (filter.to === undefined || r.time <= filter.to),
    )
  }

  /** Removes the matching reports; returns how many went. */
  delete(filter: { ids?: readonly string[]; since?: number; to?: number; exception?: string; version?: string }): number {
    let n = 0
    for (let i = this.#reports.length - 1; i >= 0; i--) {
      const r = this.#reports[i] as ErrorReportEntry
      const hit =
        (filter.ids === undefined || filter.ids.length === 0 || filter.ids.includes(r.id)) &&
        (filter.since === undefined || r.time >= filter.since) &&
        (filter.to === undefined || r.time <= filter.to) &&
        (filter.exception === undefined || r.exception === filter.exception) &&
        (filter.version === undefined || r.version === filter.version)
      if (hit) {
        this.#reports.splice(i, 1)
        n++
      }
    }
    return n
  }

  /** The report's text, a short rendering of the header of the controller's report file. */
  text(r: ErrorReportEntry): string {
    const t = new Date(r.time)
    const pad = (x: number): string => String(x).padStart(2, '0')
    const time = `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}`
    return [
      `ERROR REPORT ${r.id}`,
      '',
      '============================================================',
      '',
      'Application:                        LINBIT® LINSTOR (emulated)',
      'Module:                             Controller',
      `Version:                            ${r.version}`,
      `Error time:                         ${time}`,
      `Node:                               ${r.node}`,
      ...(r.peer !== undefined ? [`Peer:                               ${r.peer}`] : []),
      '',
      '============================================================',
      '',
      'Reported error:',
      '===============',
      '',
      `Class name:                         ${r.exception}`,
      '',
      `Error message:                      ${r.exceptionMessage}`,
      '',
    ].join('\n')
  }
}
