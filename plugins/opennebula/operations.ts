/**
 * The operations behind the OpenNebula driver executables, registered as platform "opennebula":
 * `tm.<action>` and `ds.<action>`, each taking { argv, stdin? } as the executable received them and
 * answering { stdout, messages } (see plugins/opennebula/CONTRACT.md).
 */
import type { Operation } from '../../core/protocol/index.js'
import { OneCall } from './call.js'
import { ONE_STATUS_OPERATIONS } from './index.js'
import type { DriverResult } from './call.js'
import { DS_ACTIONS } from './ds.js'
import { TM_ACTIONS } from './tm.js'

/** Every action's one error-output place: OneCall.failure (the datastore's words, the call's lines). */
function wrap(name: string, action: (call: OneCall) => Promise<DriverResult>): Operation {
  return {
    kind: ONE_STATUS_OPERATIONS.includes(name) ? 'status' : 'action',
    run: async (args, ctx) => {
      const call = new OneCall(ctx, args)
      try {
        return await action(call)
      } catch (err) {
        throw call.failure(err)
      }
    },
  }
}

export function openNebulaOperations(): Record<string, Operation> {
  return {
    ...Object.fromEntries(Object.entries(TM_ACTIONS).map(([name, a]) => [`tm.${name}`, wrap(`tm.${name}`, a)])),
    ...Object.fromEntries(Object.entries(DS_ACTIONS).map(([name, a]) => [`ds.${name}`, wrap(`ds.${name}`, a)])),
  }
}
