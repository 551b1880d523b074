/** Disks and VMs in Proxmox VE 9's real storage library (flows: test/proxmox/pve-e2e-vm.ts). */
import { vmFlows } from '../proxmox/pve-e2e-vm.js'

vmFlows(9)
