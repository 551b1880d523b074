// Deviation table of the conformance checker.
//
// Every place where the checker accepts something that the upstream OpenAPI document
// (linstor-rest-v1-openapi.yaml, REST API 1.28.0) does not literally allow is listed here, each
// with the reason and the section of /work/shared/reference/linstor-rest.md that documents the
// real controller's behaviour. An entry that no code applies any more should be removed, and a new
// acceptance must not be added without a documented reason. Anything the real controller is not
// documented to do is reported as a problem instead. openapi.ts and schemas.ts mark each place that
// applies an entry with a `deviation '<id>'` comment.

export type DeviationId =
  | 'vd-create-200'
  | 'error-apicallrc-list'
  | 'node-type-enum-names'
  | 'health-endpoint'
  | 'query-boolean-case'
  | 'query-range-unchecked'
  | 'oneof-as-anyof'
  | 'single-object-get'

export interface Deviation {
  readonly id: DeviationId
  /** what the checker accepts beyond the spec */
  readonly accepts: string
  /** why, with the linstor-rest.md section */
  readonly reason: string
}

export const DEVIATIONS: readonly Deviation[] = [
  {
    id: 'vd-create-200',
    accepts:
      'POST /v1/resource-definitions/{resource}/volume-definitions answering 200 (the spec declares 201); ' +
      'the body is checked against the schema the spec gives for 201',
    reason:
      'linstor-rest.md §1.4: VolumeDefinitions.createVolumeDefinition uses the default OK status, ' +
      '"the spec is wrong in one place"',
  },
  {
    id: 'error-apicallrc-list',
    accepts:
      'on any operation, status 400, 401, 403, 404 or 500 whose body is an ApiCallRc list (ApiCallRcList), ' +
      'also where the status is not declared and where the spec declares a single ApiCallRc object ' +
      '(components/responses/OperationFailed)',
    reason:
      'linstor-rest.md §1.2 ("every error returns a JSON array") and §1.4 (ApiCallRcRestUtils.toResponse maps ' +
      'the first error entry to 404/403/401/500, JSON mapping errors give 400, bearer-token failures 401)',
  },
  {
    id: 'node-type-enum-names',
    accepts:
      'in responses, Node.type values that equal a declared enum value ignoring case ' +
      '(SATELLITE, COMBINED, CONTROLLER, AUXILIARY where the spec lists Satellite, ...)',
    reason: 'linstor-rest.md §2.2: the controller prints the Java enum names',
  },
  {
    id: 'health-endpoint',
    accepts: 'GET /health (not in the spec): 200 with an empty body, or 500 with a plain-text reason',
    reason: 'linstor-rest.md §1.1 (api/rest/Health.java)',
  },
  {
    id: 'query-boolean-case',
    accepts: 'boolean query parameter values spelled with any case (keep_tiebreaker=True)',
    reason:
      'linstor-rest.md §6 and §7.1: python-linstor and linstor-proxmox send ?keep_tiebreaker=True and the ' +
      'controller honours it',
  },
  {
    id: 'query-range-unchecked',
    accepts: 'query parameter values are checked for type only, not for minimum/maximum (limit above 50)',
    reason: 'linstor-rest.md §1.1: "the spec\'s maximum 50 is not enforced by the code"; limit 0 means everything',
  },
  {
    id: 'single-object-get',
    accepts:
      'GET on the single-object templates listed in SINGLE_OBJECT_GETS, which the spec does not declare: ' +
      '200 with one bare element of the corresponding list GET (the `items` schema of its 200 array), ' +
      'or an error status with an ApiCallRc list (404 when nothing matches); no query parameters',
    reason:
      'linstor-rest.md §1.1 ("single-object GETs return the bare object, not a one-element array; when nothing ' +
      'matches they return HTTP 404 with an ApiCallRc list") and the endpoint lists in §2.2, §2.3, §2.4, §2.5, ' +
      '§2.6, §2.7',
  },
  {
    id: 'oneof-as-anyof',
    accepts:
      'schemas combined with oneOf are checked as anyOf (a value must match at least one alternative, ' +
      'not exactly one)',
    reason:
      'spec defect, not a controller deviation: the oneOf alternatives of VolumeLayer.data ' +
      '(DrbdVolume, StorageVolume, LUKSVolume, ...) have no required fields and are open, so every object ' +
      'matches all of them and a literal oneOf rejects every volume; the sibling `type` selects the ' +
      'alternative (linstor-rest.md §3 describes the DRBD and STORAGE layer data)',
  },
]

/**
 * Single-object GETs the real controller serves although the spec declares only the list GET
 * (deviation 'single-object-get'): template → list template whose 200 array items describe the
 * answer, and the linstor-rest.md section naming the endpoint. Used only while the spec itself
 * declares no GET for the template.
 */
export const SINGLE_OBJECT_GETS: ReadonlyArray<{ readonly template: string; readonly list: string; readonly section: string }> = [
  { template: '/v1/nodes/{node}', list: '/v1/nodes', section: '§1.1, §2.2' },
  { template: '/v1/nodes/{node}/storage-pools/{storagepool}', list: '/v1/nodes/{node}/storage-pools', section: '§2.3' },
  { template: '/v1/resource-groups/{resource_group}', list: '/v1/resource-groups', section: '§2.4' },
  { template: '/v1/resource-definitions/{resource}', list: '/v1/resource-definitions', section: '§1.1, §2.5' },
  {
    template: '/v1/resource-definitions/{resource}/volume-definitions/{volume_number}',
    list: '/v1/resource-definitions/{resource}/volume-definitions',
    section: '§2.6',
  },
  {
    template: '/v1/resource-definitions/{resource}/resources/{node}',
    list: '/v1/resource-definitions/{resource}/resources',
    section: '§1.1, §2.7',
  },
  {
    template: '/v1/resource-definitions/{resource}/resources/{node}/volumes/{volume_number}',
    list: '/v1/resource-definitions/{resource}/resources/{node}/volumes',
    section: '§1.1, §2.7',
  },
]
