// Behaviour tests of the OpenAPI conformance checker. They run against the real upstream spec read
// in place; when it is absent they print the notice (loadSpecOrNotice) and return early.

import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { DEVIATIONS, SINGLE_OBJECT_GETS } from './deviations.js'
import { ConformanceRecorder, checkExchange, loadSpec, loadSpecOrNotice, matchOperation, specPath } from './openapi.js'
import type { Exchange, Spec } from './openapi.js'

const spec = loadSpecOrNotice()

/** Runs `fn` only when the spec is present (the notice was printed at load time otherwise). */
function withSpec(fn: (s: Spec) => void): () => void {
  return () => {
    if (spec) fn(spec)
  }
}

function ex(partial: Partial<Exchange> & Pick<Exchange, 'method' | 'url' | 'status'>): Exchange {
  return { requestBody: '', responseBody: '', ...partial }
}

const json = (v: unknown): string => JSON.stringify(v)

// ret_codes as the controller prints them (exact int64 text, beyond 2^53)
const FAIL_EXISTS_RSC_DFN = '-4611686018406940171'
const FAIL_NOT_FOUND_NODE = '-4611686018423455444'
const WARN_NOT_FOUND_RSC_DEL = '-9223372036801033288'
const LONG_MAX = '9223372036854775807'
const rcList = (retCode: string, message: string): string =>
  `[{"ret_code":${retCode},"message":${JSON.stringify(message)},"obj_refs":{"RscDfn":"rsc1"},"created_at":"2026-01-02T03:04:05.678+01:00"}]`

function assertClean(problems: string[]): void {
  assert.deepEqual(problems, [])
}

function assertProblem(problems: string[], pattern: RegExp): void {
  assert.ok(
    problems.some((p) => pattern.test(p)),
    `expected a problem matching ${pattern}, got ${JSON.stringify(problems, null, 1)}`,
  )
}

describe('spec location', () => {
  test('default path is ../shared/reference/linstor-rest-v1-openapi.yaml next to the repository root', () => {
    const saved = process.env['LINSTOR_OPENAPI_SPEC']
    delete process.env['LINSTOR_OPENAPI_SPEC']
    try {
      // this file runs as build/test/conformance/openapi.test.js (or from test/conformance/ as source)
      const here = dirname(fileURLToPath(import.meta.url))
      const root = basename(resolve(here, '../..')) === 'build' ? resolve(here, '../../..') : resolve(here, '../..')
      assert.ok(existsSync(join(root, 'package.json')), `no package.json in ${root}`)
      assert.equal(specPath(), join(root, '..', 'shared', 'reference', 'linstor-rest-v1-openapi.yaml'))
    } finally {
      if (saved !== undefined) process.env['LINSTOR_OPENAPI_SPEC'] = saved
    }
  })

  test('LINSTOR_OPENAPI_SPEC overrides the path; an absent file gives null and the notice', () => {
    const saved = process.env['LINSTOR_OPENAPI_SPEC']
    const missing = '/nonexistent/dir/linstor-openapi.yaml'
    process.env['LINSTOR_OPENAPI_SPEC'] = missing
    const written: string[] = []
    const original = process.stderr.write.bind(process.stderr)
    process.stderr.write = (chunk: string | Uint8Array): boolean => {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
      return true
    }
    try {
      assert.equal(specPath(), missing)
      assert.equal(loadSpec(), null)
      assert.equal(loadSpecOrNotice(), null)
    } finally {
      process.stderr.write = original
      if (saved === undefined) delete process.env['LINSTOR_OPENAPI_SPEC']
      else process.env['LINSTOR_OPENAPI_SPEC'] = saved
    }
    assert.deepEqual(written, [`conformance: spec not found at ${missing}, skipped\n`])
  })

  test('loadSpec caches per path and exposes info.version', withSpec((s) => {
    assert.equal(loadSpec(s.path), s)
    assert.match(s.apiVersion, /^1\.\d+\.\d+$/)
  }))
})

describe('matchOperation', () => {
  test('literal segments win over parameters', withSpec((s) => {
    assert.equal(matchOperation(s, 'GET', '/v1/nodes/properties/info')?.template, '/v1/nodes/properties/info')
    assert.equal(
      matchOperation(s, 'GET', '/v1/resource-definitions/rsc1/resources/properties/info')?.template,
      '/v1/resource-definitions/{resource}/resources/properties/info',
    )
    assert.equal(matchOperation(s, 'PUT', '/v1/nodes/node1')?.template, '/v1/nodes/{node}')
    assert.equal(matchOperation(s, 'put', '/v1/nodes/info')?.template, '/v1/nodes/{node}')
  }))

  test('ignores the query, reports the operationId, and misses unknown paths and methods', withSpec((s) => {
    const m = matchOperation(s, 'GET', '/v1/controller/version?x=1')
    assert.equal(m?.template, '/v1/controller/version')
    assert.equal(m?.operationId, 'controllerVersion')
    assert.equal(matchOperation(s, 'GET', '/v1/no-such-thing'), undefined)
    assert.equal(matchOperation(s, 'PATCH', '/v1/nodes/node1'), undefined)
    // the literal template wins even though it lacks the method (as the controller's router does)
    assert.equal(matchOperation(s, 'DELETE', '/v1/controller/properties/info'), undefined)
    assert.equal(matchOperation(s, 'DELETE', '/v1/controller/properties/Aux%2Fx')?.template, '/v1/controller/properties/{key}')
  }))
})

describe('known-good exchanges pass', () => {
  test('GET /v1/controller/version', withSpec((s) => {
    assertClean(
      checkExchange(
        s,
        ex({
          method: 'GET',
          url: '/v1/controller/version',
          status: 200,
          contentType: 'application/json',
          responseBody: json({ version: '1.34.0', git_hash: 'abc', build_time: '2026-06-02T00:00:00+00:00', rest_api_version: '1.28.0' }),
        }),
      ),
    )
  }))

  test('POST /v1/resource-definitions: 201 list, and 500 list with a huge negative ret_code', withSpec((s) => {
    const requestBody = json({ resource_definition: { name: 'rsc1', resource_group_name: 'rg1', props: { 'Aux/pm/vmid': '100' } } })
    assertClean(checkExchange(s, ex({ method: 'POST', url: '/v1/resource-definitions', requestBody, status: 201, responseBody: rcList('20447233', "New resource definition 'rsc1' created.") })))
    assertClean(checkExchange(s, ex({ method: 'POST', url: '/v1/resource-definitions', requestBody, status: 500, responseBody: rcList(FAIL_EXISTS_RSC_DFN, 'exists') })))
  }))

  test('GET /v1/nodes/{node}: 404 ApiCallRc list, 200 bare Node with SATELLITE (deviations)', withSpec((s) => {
    assertClean(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes/node9', status: 404, responseBody: rcList(FAIL_NOT_FOUND_NODE, "Node 'node9' not found.") })))
    const node = { name: 'node1', type: 'SATELLITE', connection_status: 'ONLINE', net_interfaces: [{ name: 'default', address: '10.0.0.1', satellite_port: 3366, satellite_encryption_type: 'PLAIN', is_active: true }] }
    assertClean(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes/node1', status: 200, responseBody: json(node) })))
    assertClean(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes?nodes=node1&nodes=node2', status: 200, responseBody: json([node, { ...node, name: 'node2', type: 'Combined' }]) })))
  }))

  test('volume-definition create answers 200 (deviation) with a valid body', withSpec((s) => {
    assertClean(
      checkExchange(s, ex({ method: 'POST', url: '/v1/resource-definitions/rsc1/volume-definitions', requestBody: json({ volume_definition: { size_kib: 1048576, props: { StorPoolName: 'pool' } } }), status: 200, responseBody: rcList('19922945', 'created') })),
    )
  }))

  test('storage pools with Long.MAX capacities and resources with layer data', withSpec((s) => {
    const pools = `[{"storage_pool_name":"DfltDisklessStorPool","node_name":"node1","provider_kind":"DISKLESS","static_traits":{"SupportsSnapshots":"false"},"free_capacity":${LONG_MAX},"total_capacity":${LONG_MAX},"supports_snapshots":false}]`
    assertClean(checkExchange(s, ex({ method: 'GET', url: '/v1/view/storage-pools?nodes=node1&cached=true', status: 200, responseBody: pools })))
    const rows = [
      {
        name: 'rsc1',
        node_name: 'node1',
        flags: ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'],
        state: { in_use: false },
        volumes: [
          {
            volume_number: 0,
            storage_pool_name: 'DfltDisklessStorPool',
            provider_kind: 'DISKLESS',
            device_path: '/dev/drbd1000',
            state: { disk_state: 'Diskless' },
            layer_data_list: [
              { type: 'DRBD', data: { drbd_volume_definition: { volume_number: 0, minor_number: 1000 }, device_path: '/dev/drbd1000' } },
              { type: 'STORAGE', data: { volume_number: 0, allocated_size_kib: 0 } },
            ],
          },
        ],
      },
    ]
    assertClean(checkExchange(s, ex({ method: 'GET', url: '/v1/view/resources?resources=rsc1&limit=0', status: 200, responseBody: json(rows) })))
  }))

  test('delete with keep_tiebreaker=True and a WARN_NOT_FOUND entry; /health', withSpec((s) => {
    assertClean(checkExchange(s, ex({ method: 'DELETE', url: '/v1/resource-definitions/rsc1/resources/node1?keep_tiebreaker=True', status: 200, responseBody: rcList(WARN_NOT_FOUND_RSC_DEL, 'not found') })))
    assertClean(checkExchange(s, ex({ method: 'GET', url: '/health', status: 200 })))
    assertClean(checkExchange(s, ex({ method: 'GET', url: '/health', status: 500, responseBody: 'database not connected' })))
  }))
})

describe('known-bad exchanges are reported', () => {
  test('unknown path and wrong method', withSpec((s) => {
    assert.deepEqual(checkExchange(s, ex({ method: 'GET', url: '/v1/no-such-thing', status: 404, responseBody: '[]' })), [
      'GET /v1/no-such-thing 404: path not declared in the spec',
    ])
    assertProblem(checkExchange(s, ex({ method: 'PATCH', url: '/v1/nodes/node1', status: 405 })), /^PATCH \/v1\/nodes\/node1 405: method PATCH not declared for \/v1\/nodes\/\{node\}/)
    assertProblem(checkExchange(s, ex({ method: 'POST', url: '/v1/controller/version', status: 200, responseBody: '{}' })), /method POST not declared/)
  }))

  test('unknown query parameter and mistyped query/path values', withSpec((s) => {
    const good = json([])
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/view/resources?nodes=a&node=b', status: 200, responseBody: good })), /unknown query parameter 'node'/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/resource-definitions?limit=ten', status: 200, responseBody: good })), /query parameter limit must be integer/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/resource-definitions?with_volume_definitions=yes', status: 200, responseBody: good })), /with_volume_definitions must be boolean/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes/node1?limit=1', status: 200, responseBody: json({ name: 'node1', type: 'SATELLITE' }) })), /unknown query parameter 'limit'/)
    assertProblem(checkExchange(s, ex({ method: 'PUT', url: '/v1/resource-definitions/rsc1/volume-definitions/first', requestBody: json({ size_kib: 2 }), status: 200, responseBody: rcList('0', 'ok') })), /path parameter volume_number must be integer/)
  }))

  test('request body: wrong type, not JSON, or not declared', withSpec((s) => {
    const url = '/v1/resource-definitions/rsc1/volume-definitions'
    const problems = checkExchange(s, ex({ method: 'POST', url, requestBody: json({ volume_definition: { size_kib: '1048576' } }), status: 200, responseBody: rcList('0', 'ok') }))
    assert.deepEqual(problems, [`POST ${url} 200: request /volume_definition/size_kib must be integer (got "1048576")`])
    assertProblem(checkExchange(s, ex({ method: 'POST', url, requestBody: json({ volume_definition: {} }), status: 200, responseBody: rcList('0', 'ok') })), /request \/volume_definition must have required property 'size_kib'/)
    assertProblem(checkExchange(s, ex({ method: 'POST', url: '/v1/resource-definitions', requestBody: '{"resource_definition":', status: 400, responseBody: rcList('-1', 'parse error') })), /request body is not JSON/)
    assertProblem(checkExchange(s, ex({ method: 'DELETE', url: '/v1/resource-definitions/rsc1', requestBody: '{}', status: 200, responseBody: rcList('0', 'ok') })), /request body sent but the operation declares none/)
    assertProblem(checkExchange(s, ex({ method: 'PUT', url: '/v1/resource-definitions/rsc1/resources/n1/toggle-disk', requestBody: json({ operation: 7 }), status: 200, responseBody: rcList('0', 'ok') })), /request \/operation must be string/)
  }))

  test('response missing a required field or with a wrong type', withSpec((s) => {
    assert.deepEqual(
      checkExchange(s, ex({ method: 'POST', url: '/v1/resource-definitions', requestBody: json({ resource_definition: { name: 'rsc1' } }), status: 201, responseBody: '[{"ret_code":"1","message":"ok"}]' })),
      ['POST /v1/resource-definitions 201: response /0/ret_code must be integer (got "1")'],
    )
    assertProblem(checkExchange(s, ex({ method: 'POST', url: '/v1/resource-definitions', status: 201, requestBody: json({ resource_definition: {} }), responseBody: '[{"ret_code":1}]' })), /response \/0 must have required property 'message'/)
    assertProblem(checkExchange(s, ex({ method: 'POST', url: '/v1/resource-definitions', status: 201, requestBody: json({ resource_definition: {} }), responseBody: rcList('1', 'x').replace('"created_at":"2026-01-02T03:04:05.678+01:00"', '"created_at":"yesterday"') })), /response \/0\/created_at must match format "date-time"/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes/node1', status: 200, responseBody: json({ type: 'SATELLITE' }) })), /response must have required property 'name'/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes/node1', status: 200, responseBody: json({ name: 'node1', type: 'SATELITE' }) })), /response \/type must be equal to one of the allowed values/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/view/storage-pools', status: 200, responseBody: json([{ storage_pool_name: 'p', provider_kind: 'LVM', free_capacity: '10' }]) })), /response \/0\/free_capacity must be integer/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes', status: 200, responseBody: json({ name: 'node1', type: 'Satellite' }) })), /response must be array/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/controller/version', status: 200, contentType: 'text/html', responseBody: '<html></html>' })), /content-type text\/html is not JSON/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/controller/version', status: 200 })), /response body empty, expected JSON/)
  }))

  test('status not declared, and error statuses without an ApiCallRc list', withSpec((s) => {
    assert.deepEqual(checkExchange(s, ex({ method: 'GET', url: '/v1/controller/version', status: 201, responseBody: json({ version: '1' }) })), [
      'GET /v1/controller/version 201: status 201 not declared (declared: 200)',
    ])
    // 200 is accepted only for volume-definition create, not for other 201 operations
    assertProblem(checkExchange(s, ex({ method: 'POST', url: '/v1/resource-definitions', requestBody: json({ resource_definition: {} }), status: 200, responseBody: rcList('0', 'ok') })), /status 200 not declared/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes', status: 502, responseBody: 'Bad Gateway' })), /status 502 not declared/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes/node1', status: 404, responseBody: 'Not Found' })), /error response body is not JSON/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes/node1', status: 404, responseBody: json({ ret_code: 1, message: 'x' }) })), /response must be array/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/v1/nodes', status: 500 })), /error response body empty/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/health', status: 404 })), /\/health answers 200 or 500 only/)
    assertProblem(checkExchange(s, ex({ method: 'GET', url: '/health', status: 200, responseBody: 'OK' })), /\/health 200 must have an empty body/)
  }))
})

describe('ConformanceRecorder', () => {
  test('counts exchanges and collects distinct problems with repeat counts', withSpec((s) => {
    const rec = new ConformanceRecorder(s)
    const bad = ex({ method: 'GET', url: '/v1/nope', status: 404, responseBody: '[]' })
    rec.record(ex({ method: 'GET', url: '/health', status: 200 }))
    rec.record(bad)
    rec.record(bad)
    rec.record(ex({ method: 'GET', url: '/v1/controller/version', status: 201, responseBody: '{}' }))
    assert.equal(rec.count(), 4)
    assert.deepEqual(rec.problems(), [
      'GET /v1/nope 404: path not declared in the spec [x 2]',
      'GET /v1/controller/version 201: status 201 not declared (declared: 200)',
    ])
  }))

  test('without a spec it only counts', () => {
    const rec = new ConformanceRecorder(null)
    rec.record(ex({ method: 'GET', url: '/v1/nope', status: 404 }))
    assert.equal(rec.count(), 1)
    assert.deepEqual(rec.problems(), [])
  })
})

describe('deviation table', () => {
  test('every entry has a reason citing linstor-rest.md or naming a spec defect', () => {
    for (const d of DEVIATIONS) assert.match(d.reason, /linstor-rest\.md §\d|spec defect/, d.id)
    for (const g of SINGLE_OBJECT_GETS) assert.match(g.section, /^§\d/, g.template)
  })

  test('each single-object GET template is matched for GET', withSpec((s) => {
    for (const g of SINGLE_OBJECT_GETS) {
      assert.equal(matchOperation(s, 'GET', g.template.replace(/\{[^}]+\}/g, '1'))?.template, g.template)
    }
  }))
})
