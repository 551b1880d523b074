/** OpenNebula end to end, mixed mode (TM_MAD_SYSTEM=ssh: OpenNebula's own ssh TM for the system datastore): snapshots, save-as, resize, backup. See test/opennebula/scenarios.ts. */
import { scenarios } from '../opennebula/scenarios.js'

scenarios('ssh', 'data')
