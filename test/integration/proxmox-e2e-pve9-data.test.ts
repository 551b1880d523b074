/** Snapshots, templates, backups and restores in Proxmox VE 9's real storage library (flows: test/proxmox/pve-e2e-data.ts). */
import { dataFlows } from '../proxmox/pve-e2e-data.js'

dataFlows(9)
