/** OpenNebula end to end, linstor as the system datastore's TM: recovery from a dead host. See test/opennebula/scenarios.ts. */
import { scenarios } from '../opennebula/scenarios.js'

scenarios('linstor', 'recover')
