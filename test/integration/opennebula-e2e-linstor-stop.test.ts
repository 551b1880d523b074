/** OpenNebula end to end, linstor as the system datastore's TM: stop/undeploy and resume elsewhere, cold migration. See test/opennebula/scenarios.ts. */
import { scenarios } from '../opennebula/scenarios.js'

scenarios('linstor', 'stop')
