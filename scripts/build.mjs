#!/usr/bin/env node
// Build: type-check and compile everything with tsc into build/ (what the tests run on),
// then bundle the one CLI with esbuild into dist/ (what a host runs: node only, no node_modules).
// Usage: node scripts/build.mjs [--no-tsc] [--no-bundle] [--out=DIR] [--version=V]
//   --out: bundle into DIR instead of dist/; --version: bake V in instead of packaging/debian/changelog's
//   (the package test builds an older release to upgrade from with both).
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BUNDLE_STAMP, changelogVersion, ensureDeps } from './lib.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = new Set(process.argv.slice(2))
const option = (name) => process.argv.slice(2).find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
ensureDeps() // `npm run build` may be a fresh clone's first command
// The version `linstor-virt version` prints and the Debian packages carry: the changelog's newest entry.
const version = option('version') ?? changelogVersion()
const out = option('out') ?? join(root, 'dist')
// What hosts run (dist/) needs only Node.js 18.19, the oldest a supported host OS ships (Debian 12:
// 18.20.4, Ubuntu 24.04: 18.19.1); development and the tests' own process use Node 20.
const RUNTIME_TARGET = 'node18.19'

/** Imports a TypeScript module of the project by bundling it in memory (no tsc output needed). */
async function importTs(esbuild, entry) {
  const out = await esbuild.build({ absWorkingDir: root, entryPoints: [entry], bundle: true, write: false, platform: 'node', format: 'esm', target: RUNTIME_TARGET, logLevel: 'warning' })
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`)
}

/** Removes compiled files under dir whose TypeScript source no longer exists. */
function pruneStale(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) {
      pruneStale(p)
      continue
    }
    const m = /^(.*)\.(js|js\.map|d\.ts)$/.exec(entry.name)
    if (m === null) continue
    const source = join(root, relative(join(root, 'build'), dir), `${m[1]}.ts`)
    if (!existsSync(source)) rmSync(p)
  }
}

if (!args.has('--no-tsc')) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' })
  if (r.status !== 0) {
    process.stderr.write('build: tsc reported errors\n')
    process.exit(r.status ?? 1)
  }
  // tsc never removes what it compiled from a source that is gone: a deleted test would keep running.
  // Only tsc's own output folders: build/ also caches Debian 12's node (scripts/debian-node.mjs), whose
  // .js files have no TypeScript source.
  for (const d of JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')).include) if (existsSync(join(root, 'build', d))) pruneStale(join(root, 'build', d))
  // tsc does not copy the generated CommonJS validators (core/config/*.cjs) next to their importers.
  for (const f of readdirSync(join(root, 'core', 'config'))) {
    if (f.endsWith('.cjs')) copyFileSync(join(root, 'core', 'config', f), join(root, 'build', 'core', 'config', f))
  }
}

if (!args.has('--no-bundle')) {
  const esbuild = await import('esbuild')
  rmSync(out, { recursive: true, force: true })
  const common = {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    target: RUNTIME_TARGET,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
    define: { __LINSTOR_VIRT_VERSION__: JSON.stringify(version) },
  }
  // Every command but `call`: ESM with code splitting, so a light command never loads express,
  // ajv, yaml or execa (each heavy dependency sits in a chunk only its users import).
  await esbuild.build({
    ...common,
    entryPoints: { main: 'cli/main.ts' },
    outdir: out,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    format: 'esm',
    chunkNames: 'chunks/[name]-[hash]',
    // CommonJS dependencies (pino, express) call require(); give ESM chunks one.
    banner: {
      js: "import { createRequire as __lvCreateRequire } from 'node:module'; const require = __lvCreateRequire(import.meta.url);",
    },
  })
  // `call --stdin`: one CommonJS file, started without the ESM loader (cli/bin.cjs says why).
  // Dynamic imports (node built-ins loaded when first used) become require(): the bundle runs
  // through vm.Script (cli/code-cache.cjs), which has no loader for import(). Whitespace and
  // comments out (names kept, so stack traces still name functions): a third less to read, and
  // plain ASCII, which node decodes on its fast path (bench/startup measures the start).
  await esbuild.build({ ...common, entryPoints: ['cli/one-shot.ts'], outfile: join(out, 'one-shot.js'), format: 'cjs', supported: { 'dynamic-import': false }, minifyWhitespace: true, minifySyntax: true })
  // dist/ is CommonJS: the launcher and the one-shot bundle are .js, the ESM bundle is .mjs.
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'commonjs' }) + '\n')
  copyFileSync(join(root, 'cli', 'bin.cjs'), join(out, 'linstor-virt.js'))
  // The one-shot bundle's loader and its V8 code cache folder (the Debian package makes that one
  // a link to /var/cache/linstor-virt, filled by its postinst): filled here from the calls the
  // shims start with (code-cache.js's WARM_REQUESTS), else by the first run of the bundle.
  copyFileSync(join(root, 'cli', 'code-cache.cjs'), join(out, 'code-cache.js'))
  mkdirSync(join(out, 'code-cache'))
  if (spawnSync(process.execPath, [join(out, 'code-cache.js')], { stdio: 'inherit' }).status !== 0) process.stderr.write('build: the code cache was not made (the first one-shot call makes it)\n')
  chmodSync(join(out, 'linstor-virt.js'), 0o755)
  // What `linstor-virt install` puts in place besides the bundle: the platform shims and the unit.
  const share = join(out, 'share')
  mkdirSync(join(share, 'proxmox'), { recursive: true })
  mkdirSync(join(share, 'systemd'), { recursive: true })
  const perl = join(root, 'plugins', 'proxmox', 'perl', 'PVE', 'Storage', 'Custom', 'LinstorVirtPlugin.pm')
  if (existsSync(perl)) copyFileSync(perl, join(share, 'proxmox', 'LinstorVirtPlugin.pm'))
  copyFileSync(join(root, 'packaging', 'systemd', 'linstor-virt-agent.service'), join(share, 'systemd', 'linstor-virt-agent.service'))
  // The agent's configuration template and cinder's socket (the packages ship the same files).
  mkdirSync(join(share, 'agent'), { recursive: true })
  copyFileSync(join(root, 'packaging', 'debian', 'linstor-virt.agent.conf'), join(share, 'agent', 'agent.conf'))
  copyFileSync(join(root, 'packaging', 'debian', 'linstor-virt-cinder.agent.conf'), join(share, 'agent', 'cinder.conf'))
  // Cinder: the Python driver package, copied as it is (no compiled files, no tests).
  const cinderPkg = join(root, 'plugins', 'openstack-cinder', 'python', 'linstor_virt_cinder')
  const cinderOut = join(share, 'cinder', 'linstor_virt_cinder')
  rmSync(cinderOut, { recursive: true, force: true })
  mkdirSync(cinderOut, { recursive: true })
  for (const f of existsSync(cinderPkg) ? readdirSync(cinderPkg) : []) if (f.endsWith('.py')) copyFileSync(join(cinderPkg, f), join(cinderOut, f))
  // OpenNebula: one tiny executable per driver action, all requiring the one launcher beside them.
  // The action names come from the TypeScript source itself (bundled in memory), so the bundle step
  // never depends on what the tsc step writes: `--no-tsc` on a fresh clone has no build/.
  const one = await importTs(esbuild, 'plugins/opennebula/index.ts')
  const launcher = readFileSync(join(root, 'plugins', 'opennebula', 'launcher', 'driver.cjs'))
  const stub = "#!/usr/bin/env node\n'use strict'\nrequire('./linstor-virt-driver.cjs').main(__filename)\n"
  const dirs = { tm: [...one.ONE_TM_ACTIONS, ...one.ONE_SSH_VARIANTS.map((a) => `${a}.ssh`)], datastore: one.ONE_DS_ACTIONS }
  for (const [kind, actions] of Object.entries(dirs)) {
    const dir = join(share, 'opennebula', 'remotes', kind, 'linstor')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'linstor-virt-driver.cjs'), launcher)
    for (const a of actions) {
      writeFileSync(join(dir, a), stub)
      chmodSync(join(dir, a), 0o755)
    }
  }
  // Written last: a bundle without it is incomplete (an earlier build stopped half way) and
  // scripts/run-cli.mjs rebuilds it.
  writeFileSync(join(out, BUNDLE_STAMP), `${version}\n`)
}
