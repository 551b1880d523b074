/**
 * The storm benchmark (issue 9) at a tiny size: it still drives attach, live migration and detach
 * through the agent, counts every call it was asked to make, sees failures and leftovers when
 * there are some, and writes a report and a well-formed, escaped SVG chart. Benchmarks are not
 * timed tests: nothing here depends on how fast the calls were.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { latencyChartSvg } from '../../bench/chart.js'
import { percentile } from '../../bench/stats.js'
import { STORM_CHART, measureStorm, stormLeftovers, stormMarkdown, stormSvg } from '../../bench/storm.bench.js'
import type { StormResult } from '../../bench/storm.bench.js'
import { ALLOW_TWO_PRIMARIES, AUX_MIGRATION } from '../../core/lifecycle/index.js'
import { clientFor, placedResource, withEmulator } from '../emulator/helpers.js'

interface SvgGroup {
  '@_class'?: string
  '@_data-operation'?: string
  text?: ({ '#text'?: string | number } | string)[]
  title?: string
}

/** The SVG validated as XML (throws with the parser's reason otherwise), and its operation rows. */
function svgRows(svg: string): { label: string; texts: string[] }[] {
  const valid = XMLValidator.validate(svg)
  assert.equal(valid, true, `well-formed XML: ${JSON.stringify(valid)}`)
  const doc = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'g' || name === 'text' }).parse(svg) as { svg?: { g?: SvgGroup[]; '@_xmlns'?: string } }
  assert.equal(doc.svg?.['@_xmlns'], 'http://www.w3.org/2000/svg')
  return (doc.svg?.g ?? [])
    .filter((g) => g['@_class'] === 'op')
    .map((g) => ({ label: String(g['@_data-operation']), texts: (g.text ?? []).map((t) => String(typeof t === 'string' ? t : t['#text'])) }))
}

function op(r: StormResult, phase: string, operation: string): StormResult['phases'][number]['ops'][number] {
  const o = r.phases.find((p) => p.phase === phase)?.ops.find((x) => x.operation === operation)
  assert.ok(o !== undefined, `${phase}: ${operation} measured`)
  return o
}

test('a tiny storm attaches, migrates and detaches every VM through the agent with no failure and nothing left over', async () => {
  const r = await measureStorm({ vms: 6, hosts: 3, migrations: 3 })
  assert.deepEqual([r.vms, r.hosts, r.migrations], [6, 3, 3])
  assert.equal(r.failures, 0, JSON.stringify(r.phases.map((p) => p.errors)))
  assert.deepEqual(r.leftovers, { disklessClients: [], allowTwoPrimaries: [], primaries: [], migrationRecords: [], total: 0 })
  assert.deepEqual(r.phases.map((p) => p.phase), ['attach', 'live migration', 'detach'])
  assert.deepEqual(
    r.phases.map((p) => [p.phase, p.operations, p.ops.map((o) => [o.operation, o.calls, o.failures])]),
    [
      ['attach', 6, [['activate', 6, 0]]],
      ['live migration', 6, [['migrate-activate', 3, 0], ['migrate-deactivate', 3, 0]]],
      ['detach', 6, [['deactivate', 6, 0]]],
    ],
  )
  for (const p of r.phases) {
    assert.ok(p.wallS > 0 && p.callsPerS > 0, `${p.phase} timed`)
    assert.ok(p.restCalls >= p.operations, `${p.phase}: every call asked the controller (${p.restCalls} REST calls)`)
    assert.equal(p.failures, 0)
    for (const o of p.ops) {
      assert.ok(o.minMs > 0 && o.minMs <= o.p50Ms && o.p50Ms <= o.p99Ms && o.p99Ms <= o.maxMs, `${p.phase} ${o.operation}: ${JSON.stringify(o)}`)
      assert.equal(Object.values(o.held).reduce((a, b) => a + b, 0), o.calls, 'every call says what its host held')
    }
  }
  // Round-robin over 3 hosts with 2 replicas each: some starts are local, some are not.
  const attach = op(r, 'attach', 'activate')
  assert.ok(attach.held.replica > 0 && attach.held.replica < 6, JSON.stringify(attach.held))
  // A migration always lands on a host where the VM did not run.
  assert.equal(op(r, 'live migration', 'migrate-deactivate').held.nothing, 0)

  const md = stormMarkdown(r)
  assert.match(md, /^## Storm \(6 VMs on 3 hosts, 3 live migrations\)$/m)
  assert.match(md, /^\| attach \| 6 \| [\d.]+ \| [\d.]+ \| \d+ \| [\d.]+ \| 0 \|$/m)
  assert.match(md, /^\| live migration \| 6 \| [\d.]+ \| [\d.]+ \| \d+ \| [\d.]+ \| 0 \|$/m)
  assert.match(md, /^\| detach \| 6 \| [\d.]+ \| [\d.]+ \| \d+ \| [\d.]+ \| 0 \|$/m)
  assert.match(md, /^\| attach \| activate \| 6 \| 0 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [^|]+ \|$/m)
  assert.match(md, /^\| live migration \| migrate-activate \| 3 \| 0 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [^|]+ \|$/m)
  assert.match(md, /^\| live migration \| migrate-deactivate \| 3 \| 0 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [^|]+ \|$/m)
  assert.match(md, /^\| detach \| deactivate \| 6 \| 0 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [^|]+ \|$/m)
  assert.match(md, /Leftovers \(must be 0\): 0 /)
  assert.ok(md.includes(STORM_CHART) && STORM_CHART === 'storm-latency.svg')
  assert.doesNotMatch(md, /Failures:/)

  const svg = stormSvg(r)
  assert.ok(svg.startsWith('<svg '), 'a standalone SVG document')
  assert.deepEqual(
    svgRows(svg).map((x) => x.label),
    ['attach: activate', 'live migration: migrate-activate', 'live migration: migrate-deactivate', 'detach: deactivate'],
  )
  assert.match(svg, /latency per call \(ms, logarithmic\)/, 'the axis is labelled')
})

test('leftovers are counted: a controller refusing to delete diskless clients during the detach storm leaves them (the stops succeed)', async () => {
  const r = await measureStorm({
    vms: 4,
    hosts: 3,
    migrations: 1,
    onPhase: (phase, emu) => {
      if (phase === 'detach') emu.control.faults.error(500, { method: 'DELETE', path: '/v1/resource-definitions/[^/]+/resources/' })
    },
  })
  const deactivate = op(r, 'detach', 'deactivate')
  const clients = deactivate.held.client
  assert.ok(clients > 0, `some VMs ran on diskless clients: ${JSON.stringify(deactivate.held)}`)
  // A stop never fails on LINSTOR (issue 20): each deactivate succeeds, and the client it could not
  // remove is kept as pending and left over until a controller accepts the removal.
  assert.equal(deactivate.failures, 0, 'no deactivate fails')
  assert.equal(deactivate.calls, 4)
  assert.equal(r.failures, 0)
  assert.equal(r.leftovers.disklessClients.length, clients, JSON.stringify(r.leftovers))
  assert.equal(r.leftovers.total, clients, 'nothing else left: every disk was closed first')
  const md = stormMarkdown(r)
  assert.match(md, new RegExp(`Failures \\(must be 0\\): 0\\. Leftovers \\(must be 0\\): ${clients} \\(diskless clients ${clients},`))
  assert.match(md, /^Left over: vm-\d+-disk-0@pve-\d/m)
})

test('leftovers: diskless clients, Primary roles, allow-two-primaries and migration records are found; tie-breakers are not leftovers', async (t) => {
  const emu = await withEmulator(t, {
    cluster: {
      nodes: ['alpha', 'bravo', 'charlie', 'delta'].map((name) => ({ name, pools: [{ name: 'DfltStorPool', provider_kind: 'LVM_THIN' as const, total_capacity_kib: 100 * 1024 * 1024 }] })),
      resources: [{ name: 'r1', volumes: [10240], replicas: [{ node: 'alpha' }, { node: 'bravo' }, { node: 'charlie', diskless: true }] }],
    },
  })
  await placedResource(emu, 'r2') // two replicas and a tie-breaker: clean
  assert.ok(Object.values(emu.state().resourceDefinitions).some((rd) => rd.name === 'r2' && Object.values(rd.resources).some((x) => x.kind === 'tiebreaker')), 'r2 has a tie-breaker')
  const clean = stormLeftovers(emu.state())
  assert.deepEqual(clean.disklessClients, ['r1@charlie'])
  assert.equal(clean.total, 1)

  const client = clientFor(t, emu)
  emu.control.open('charlie', 'r1')
  await client.resourceDefinitions.modify('r1', { override_props: { [AUX_MIGRATION]: '{"from":"alpha","to":"charlie"}', [ALLOW_TWO_PRIMARIES]: 'yes' } })
  await client.resourceDefinitions.modifyConnection('r1', 'alpha', 'bravo', { override_props: { [ALLOW_TWO_PRIMARIES]: 'yes' } })
  const dirty = stormLeftovers(emu.state())
  assert.deepEqual(dirty.disklessClients, ['r1@charlie'])
  assert.deepEqual(dirty.primaries, ['r1@charlie'])
  assert.deepEqual([...dirty.allowTwoPrimaries].sort(), ['r1', 'r1:alpha-bravo'])
  assert.deepEqual(dirty.migrationRecords, ['r1'])
  assert.equal(dirty.total, 5)
})

test('the chart escapes labels, keeps one row per operation and stays well-formed for odd inputs', () => {
  const svg = latencyChartSvg(
    [
      { label: 'a <&> "b" \'c\'', count: 3, minMs: 0.001, p50Ms: 0.5, p99Ms: 2, maxMs: 3 },
      { label: 'slow', count: 1, minMs: 1500, p50Ms: 1500, p99Ms: 1500, maxMs: 1500 },
    ],
    { title: 'T <1> & co', subtitle: 'x < y' },
  )
  const rows = svgRows(svg)
  assert.deepEqual(rows.map((r) => r.label), ['a <&> "b" \'c\'', 'slow'], 'labels come back unescaped from the parser')
  assert.ok(svg.includes('a &lt;&amp;&gt; &quot;b&quot; &apos;c&apos;'))
  assert.ok(!svg.includes('<&>') && !svg.includes('T <1>') && !svg.includes('x < y'), 'no raw < or & from the inputs')
  assert.ok(rows[1]?.texts.some((x) => /min 1500 · p50 1500 · p99 1500 · max 1500 ms/.test(x)), JSON.stringify(rows[1]))
  // Empty input: still a document, with a note instead of rows.
  const empty = latencyChartSvg([])
  assert.deepEqual(svgRows(empty), [])
  assert.match(empty, /no samples/)
})

test('percentile is nearest-rank: p50 and p99 of 1..100, p99 of few samples is the maximum, no samples give 0', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i)
  assert.equal(percentile(xs, 50), 50)
  assert.equal(percentile(xs, 99), 99)
  assert.equal(percentile(xs, 100), 100)
  assert.equal(percentile([3, 1, 2], 99), 3)
  assert.equal(percentile([3, 1, 2], 0), 1)
  assert.equal(percentile([], 50), 0)
})
