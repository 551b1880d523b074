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

function wrap(name: string, action: (call: OneCall) => Promise<DriverResult>): Operation {
  return { kind: ONE_STATUS_OPERATIONS.includes(name) ? 'status' : 'action', run: (args, ctx) => action(new OneCall(ctx, args)) }
}

export function openNebulaOperations(): Record<string, Operation> {
  return {
    ...Object.fromEntries(Object.entries(TM_ACTIONS).map(([name, a]) => [`tm.${name}`, wrap(`tm.${name}`, a)])),
    ...Object.fromEntries(Object.entries(DS_ACTIONS).map(([name, a]) => [`ds.${name}`, wrap(`ds.${name}`, a)])),
  }
}
