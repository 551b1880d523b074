/**
 * `linstor-virt doctor [--fix] [--json] [--resource NAME]... [--unused-groups [--referenced-group NAME]...]
 *  [--controllers LIST] [--token-file F] [--ca-file F] [--cert-file F --key-file F] [--timeout-ms N]
 *  [--lock-dir DIR] [--state-dir DIR]`
 * Reports what starts and stops on this host could not tell LINSTOR (pending records in the state
 * folder, --state-dir), diskless clients nobody uses, migrations left half done, and resources with
 * fewer replicas than their group asks for; with --unused-groups also linstor-virt's own resource
 * groups that no volume uses and that are not named with --referenced-group (the groups the
 * platforms' settings name); --fix repairs what is safe. Exit 0: nothing (left) to report; 1:
 * findings remain; 2: usage.
 */
import { parseArgs } from 'node:util'
import { runDoctor } from '../../core/doctor/index.js'
import type { DoctorReport } from '../../core/doctor/index.js'
import { createStorage } from '../../core/storage/index.js'
import { CONNECTION_OPTIONS, timeoutOf, withClient } from '../connection.js'

function render(report: DoctorReport, fix: boolean): string {
  const lines = [`${report.checked} resource(s) checked, ${report.findings.length} finding(s)`]
  for (const name of report.missing) lines.push(`  ${'not-found'.padEnd(16)} ${name}: LINSTOR has no resource of this name`)
  for (const f of report.findings) {
    const state = f.fixed === true ? 'fixed' : f.error !== undefined ? `fix failed: ${f.error}` : f.fixable ? (fix ? 'not fixed' : 'fixable with --fix') : 'needs an operator'
    lines.push(`  ${f.kind.padEnd(16)} ${f.resource}${f.node !== undefined ? ` on ${f.node}` : ''}: ${f.detail} [${state}]`)
  }
  return lines.join('\n') + '\n'
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      fix: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      resource: { type: 'string', multiple: true },
      'unused-groups': { type: 'boolean', default: false },
      'referenced-group': { type: 'string', multiple: true },
      'lock-dir': { type: 'string' },
      'state-dir': { type: 'string' },
      ...CONNECTION_OPTIONS,
    },
  })
  const timeoutMs = timeoutOf(values, 30_000)
  if (timeoutMs === undefined) return 2
  return withClient(values, timeoutMs, async (client, logger) => {
    // The state folder holds what starts and stops could not tell LINSTOR (pending records).
    const stateDir = values['state-dir'] ?? (process.env['LINSTOR_VIRT_STATE_DIR'] || undefined)
    const storage = createStorage({ client, logger, ...(values['lock-dir'] !== undefined ? { lockDir: values['lock-dir'] } : {}), ...(stateDir !== undefined ? { stateDir } : {}) })
    const groups = values['unused-groups'] || values['referenced-group'] !== undefined ? { referencedGroups: new Set(values['referenced-group'] ?? []) } : {}
    const report = await runDoctor(storage, { fix: values.fix, ...(values.resource !== undefined ? { resources: values.resource } : {}), ...groups })
    process.stdout.write(values.json ? JSON.stringify(report) + '\n' : render(report, values.fix))
    return report.healthy ? 0 : 1
  })
}
