#!/usr/bin/env node
// Build: type-check and compile everything with tsc into build/ (what the tests run on),
// then bundle the one CLI with esbuild into dist/ (what a host runs: node only, no node_modules).
// Usage: node scripts/build.mjs [--no-tsc] [--no-bundle]
import { spawnSync } from 'node:child_process'
import { copyFileSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = new Set(process.argv.slice(2))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

if (!args.has('--no-tsc')) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' })
  if (r.status !== 0) {
    process.stderr.write('build: tsc reported errors\n')
    process.exit(r.status ?? 1)
  }
  // tsc does not copy the generated CommonJS validators (core/config/*.cjs) next to their importers.
  for (const f of readdirSync(join(root, 'core', 'config'))) {
    if (f.endsWith('.cjs')) copyFileSync(join(root, 'core', 'config', f), join(root, 'build', 'core', 'config', f))
  }
}

if (!args.has('--no-bundle')) {
  const esbuild = await import('esbuild')
  rmSync(join(root, 'dist'), { recursive: true, force: true })
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: { 'linstor-virt': 'cli/main.ts' },
    outdir: 'dist',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    chunkNames: 'chunks/[name]-[hash]',
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
    define: { __LINSTOR_VIRT_VERSION__: JSON.stringify(pkg.version) },
    // CommonJS dependencies (pino, express) call require(); give ESM chunks one.
    banner: {
      js: "import { createRequire as __lvCreateRequire } from 'node:module'; const require = __lvCreateRequire(import.meta.url);",
    },
  })
}
