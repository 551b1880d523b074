/** OpenNebula end to end, linstor as the system datastore's TM: deploy, live migration both ways, a failed live migration, terminate. See test/opennebula/scenarios.ts. */
import { scenarios } from '../opennebula/scenarios.js'

scenarios('linstor', 'migrate')
