/** Adoption, free, the controller VM, the token and status in Proxmox VE 9's real storage library (flows: test/proxmox/pve-e2e-admin.ts). */
import { adminFlows } from '../proxmox/pve-e2e-admin.js'

adminFlows(9)
