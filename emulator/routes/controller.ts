/** /health, /v1/controller/version and /v1/controller/properties. */
import type { Request, Response } from 'express'
import { MASK_CTRL_CONF, MASK_MOD, RC } from '../api-call-rc.js'
import type { Emu } from '../context.js'
import type { RouteTable } from '../http-kit.js'
import { mutation, query, readBody } from '../http-kit.js'
import * as T from '../request-types.js'
import { applyPropsPlan, planPropsModify } from '../props.js'

export function controllerRoutes(emu: Emu, routes: RouteTable): void {
  // The controller answers 200 with an empty body while healthy (api/rest/Health.java).
  routes.add('get', '/health', (_req: Request, res: Response) => {
    res.status(200).end()
  })

  routes.add('get', '/v1/controller/version', query(emu, { op: 0n, obj: MASK_CTRL_CONF, objRefs: {} }, () => ({ ...emu.version })))

  routes.add(
    'get',
    '/v1/controller/properties',
    query(emu, { op: 0n, obj: MASK_CTRL_CONF, objRefs: {} }, () => new Map(Object.entries(emu.state.controllerProps))),
  )

  // The spec declares 201 for this POST (the reference's "200 for modifies" covers PUTs);
  // Controller.setProperties reads the body in the asynchronous style (parse errors: 500).
  routes.add(
    'post',
    '/v1/controller/properties',
    mutation(emu, { ctx: { op: MASK_MOD, obj: MASK_CTRL_CONF, objRefs: {} }, successStatus: 201 }, (req, reply) => {
      const plan = planPropsModify(readBody(req, T.ControllerPropsModify))
      const change = applyPropsPlan(emu.state.controllerProps, plan)
      if (change.set.length > 0) reply.add(RC.MODIFIED, `Successfully set property key(s): ${change.set.join(',')}`)
      if (plan.del.length > 0 || plan.ns.length > 0) {
        reply.add(RC.DELETED | MASK_MOD, `Successfully deleted property key(s): ${[...plan.del, ...plan.ns].join(',')}`)
      }
    }),
  )
}
