/** OpenNebula end to end, mixed mode (TM_MAD_SYSTEM=ssh: OpenNebula's own ssh TM for the system datastore): deploy, live migration both ways, a failed live migration, terminate. See test/opennebula/scenarios.ts. */
import { scenarios } from '../opennebula/scenarios.js'

scenarios('ssh', 'migrate')
