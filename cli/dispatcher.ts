/**
 * The dispatcher both transports use, with every platform's operations registered. Adapters add
 * their `register` call here as they land (plugins/<platform>/operations.ts).
 */
import type { Logger } from '../core/log/index.js'
import { Dispatcher, coreOperations } from '../core/protocol/index.js'
import { openNebulaOperations } from '../plugins/opennebula/index.js'
import { cinderOperations } from '../plugins/openstack-cinder/index.js'
import { proxmoxOperations } from '../plugins/proxmox/index.js'

export function buildDispatcher(logger: Logger): Dispatcher {
  return new Dispatcher({ logger }).register('core', coreOperations()).register('proxmox', proxmoxOperations()).register('opennebula', openNebulaOperations()).register('cinder', cinderOperations())
}
