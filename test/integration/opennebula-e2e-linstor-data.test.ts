/** OpenNebula end to end, linstor as the system datastore's TM: snapshots, save-as, resize, backup. See test/opennebula/scenarios.ts. */
import { scenarios } from '../opennebula/scenarios.js'

scenarios('linstor', 'data')
