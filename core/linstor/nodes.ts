/** Nodes and their storage pools. */
import type { ApiCallRc } from './api-call-rc.js'
import { seg } from './caller.js'
import type { CallOptions, Caller } from './caller.js'
import { list } from './narrow.js'
import { readNode } from './readers.js'
import type { Node, PropsModify } from './types.js'

export interface NodeListFilter {
  nodes?: readonly string[]
  /** Each `key` (must exist) or `key=value`. */
  props?: readonly string[]
}

export class NodesApi {
  readonly #c: Caller
  constructor(caller: Caller) {
    this.#c = caller
  }

  list(filter: NodeListFilter = {}, options?: CallOptions): Promise<Node[]> {
    return this.#c.query(
      { method: 'GET', path: '/v1/nodes', query: { nodes: filter.nodes, props: filter.props } },
      (v) => list(v, 'nodes', readNode),
      options,
    )
  }

  /** The node, or undefined when the controller does not know it. */
  get(node: string, options?: CallOptions): Promise<Node | undefined> {
    return this.#c.find({ method: 'GET', path: `/v1/nodes/${seg(node)}` }, (v) => readNode(v, 'node'), options)
  }

  modify(node: string, body: PropsModify, options?: CallOptions): Promise<ApiCallRc[]> {
    return this.#c.mutate({ method: 'PUT', path: `/v1/nodes/${seg(node)}`, body }, options)
  }
}
