/**
 * A latency chart as standalone SVG, no dependencies: one row per operation on a shared
 * logarithmic millisecond axis, a whisker from min to max, a box from p50 to p99 and a bar at p50,
 * so a reader sees each distribution and how the operations compare at a glance.
 */

export interface LatencySeries {
  /** Row label (escaped on output). */
  label: string
  /** Number of samples behind the figures. */
  count: number
  minMs: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export interface ChartOptions {
  title?: string
  /** Line under the title. */
  subtitle?: string
}

/** Text for SVG content and attribute values: the five XML specials as entities. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c)
}

/** Milliseconds for a label: 3 significant digits, no trailing noise. */
function ms(x: number): string {
  if (x >= 100) return String(Math.round(x))
  return String(Number(x.toPrecision(3)))
}

/** The smallest value the log axis shows: sub-microsecond samples sit on its left edge. */
const FLOOR_MS = 0.01

/** Width of the value column right of the plot, and the plot's own width. */
const RIGHT = 300
const PLOT_W = 400
/** Rough advance of one character at 12 px sans-serif, to fit the labels left of the plot. */
const CHAR_PX = 7
const TOP = 62
const ROW = 40
const BOTTOM = 74

export function latencyChartSvg(series: readonly LatencySeries[], opts: ChartOptions = {}): string {
  const values = series.flatMap((s) => [s.minMs, s.p50Ms, s.p99Ms, s.maxMs]).filter((v) => Number.isFinite(v))
  const lowestMs = values.length === 0 ? 1 : Math.max(FLOOR_MS, Math.min(...values))
  const highestMs = values.length === 0 ? 10 : Math.max(FLOOR_MS, ...values)
  const lo = Math.floor(Math.log10(lowestMs))
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(highestMs)))
  const longest = Math.max(0, ...series.map((s) => s.label.length))
  const LEFT = Math.round(Math.min(420, Math.max(150, 40 + longest * CHAR_PX)))
  const W = LEFT + PLOT_W + RIGHT
  const plotW = PLOT_W
  const x = (v: number): number => LEFT + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * plotW
  const height = TOP + Math.max(1, series.length) * ROW + BOTTOM
  const axisY = TOP + Math.max(1, series.length) * ROW
  const f = (n: number): string => n.toFixed(1)
  const out: string[] = []
  const title = opts.title ?? 'Latency per operation'
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  )
  if (opts.subtitle !== undefined) out.push(`<text x="${LEFT}" y="40" fill="#444444">${escapeXml(opts.subtitle)}</text>`)

  // Grid and tick labels: every 1-2-5 step when the axis spans few decades, else decades only.
  const steps = hi - lo <= 3 ? [1, 2, 5] : [1]
  out.push('<g class="grid" stroke="#dddddd" stroke-width="1">')
  const ticks: number[] = []
  for (let d = lo; d <= hi; d++) for (const m of steps) if (d < hi || m === 1) ticks.push(m * 10 ** d)
  for (const t of ticks) out.push(`<line x1="${f(x(t))}" y1="${TOP - 6}" x2="${f(x(t))}" y2="${axisY}"/>`)
  out.push('</g>')
  out.push(`<line class="axis" x1="${LEFT}" y1="${axisY}" x2="${LEFT + plotW}" y2="${axisY}" stroke="#333333"/>`)
  out.push('<g class="ticks" text-anchor="middle" fill="#333333">')
  for (const t of ticks) out.push(`<text x="${f(x(t))}" y="${axisY + 16}">${escapeXml(ms(t))}</text>`)
  out.push('</g>')
  out.push(`<text class="x-label" x="${f(LEFT + plotW / 2)}" y="${axisY + 36}" text-anchor="middle">latency per call (ms, logarithmic)</text>`)
  out.push(`<text class="y-label" x="14" y="${f(TOP + (axisY - TOP) / 2)}" text-anchor="middle" transform="rotate(-90 14 ${f(TOP + (axisY - TOP) / 2)})">operation</text>`)

  series.forEach((s, i) => {
    const cy = TOP + i * ROW + ROW / 2
    const label = escapeXml(s.label)
    const [xmin, x50, x99, xmax] = [x(s.minMs), x(s.p50Ms), x(s.p99Ms), x(s.maxMs)]
    out.push(
      `<g class="op" data-operation="${label}">`,
      `<title>${label}: ${s.count} calls, min ${escapeXml(ms(s.minMs))} ms, p50 ${escapeXml(ms(s.p50Ms))} ms, p99 ${escapeXml(ms(s.p99Ms))} ms, max ${escapeXml(ms(s.maxMs))} ms</title>`,
      `<text x="${LEFT - 10}" y="${f(cy - 2)}" text-anchor="end">${label}</text>`,
      `<text x="${LEFT - 10}" y="${f(cy + 12)}" text-anchor="end" fill="#666666" font-size="10">n = ${s.count}</text>`,
      `<line x1="${f(xmin)}" y1="${f(cy)}" x2="${f(xmax)}" y2="${f(cy)}" stroke="#555555"/>`,
      `<line x1="${f(xmin)}" y1="${f(cy - 6)}" x2="${f(xmin)}" y2="${f(cy + 6)}" stroke="#555555"/>`,
      `<line x1="${f(xmax)}" y1="${f(cy - 6)}" x2="${f(xmax)}" y2="${f(cy + 6)}" stroke="#555555"/>`,
      `<rect x="${f(x50)}" y="${f(cy - 10)}" width="${f(Math.max(1, x99 - x50))}" height="20" fill="#8ab4f8" stroke="#1a56c4"/>`,
      `<line x1="${f(x50)}" y1="${f(cy - 12)}" x2="${f(x50)}" y2="${f(cy + 12)}" stroke="#0b2e6b" stroke-width="3"/>`,
      `<text x="${W - RIGHT + 12}" y="${f(cy + 4)}" fill="#333333">min ${escapeXml(ms(s.minMs))} · p50 ${escapeXml(ms(s.p50Ms))} · p99 ${escapeXml(ms(s.p99Ms))} · max ${escapeXml(ms(s.maxMs))} ms</text>`,
      '</g>',
    )
  })
  if (series.length === 0) out.push(`<text x="${f(LEFT + plotW / 2)}" y="${f(TOP + ROW / 2)}" text-anchor="middle" fill="#666666">no samples</text>`)
  out.push(`<text class="legend" x="${LEFT}" y="${axisY + 58}" fill="#444444" font-size="11">whisker: min to max · box: p50 to p99 · bar: p50</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
