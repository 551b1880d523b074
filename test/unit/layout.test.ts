/**
 * The import rules of the layout: plugins use core only through each concept's index.ts and never
 * each other; core and the emulator never import one another (so a field misnamed in one cannot be
 * misnamed the same way in the other); core never imports plugins or the CLI.
 */
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { test } from 'node:test'
import { repoRoot } from '../helpers/paths.js'

const root = repoRoot()

function tsFiles(dir: string): string[] {
  const out: string[] = []
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return out
  }
  for (const n of names) {
    const p = join(dir, n)
    if (statSync(p).isDirectory()) out.push(...tsFiles(p))
    else if (n.endsWith('.ts')) out.push(p)
  }
  return out
}

/** Relative import specifiers of a file, resolved to repository-relative paths. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specs = [...text.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)]
    .map((m) => m[1] ?? m[2] ?? '')
    .filter((s) => s.startsWith('.'))
  return specs.map((s) => relative(root, resolve(dirname(file), s)).split(sep).join('/'))
}

const area = (p: string): string => p.split('/')[0] ?? ''

test('core never imports the emulator, plugins or the CLI', () => {
  for (const f of tsFiles(join(root, 'core'))) {
    for (const target of imports(f)) {
      assert.ok(area(target) === 'core', `${relative(root, f)} imports ${target}`)
    }
  }
})

test('the emulator never imports core or plugins', () => {
  for (const f of tsFiles(join(root, 'emulator'))) {
    for (const target of imports(f)) {
      assert.ok(!['core', 'plugins'].includes(area(target)), `${relative(root, f)} imports ${target}`)
    }
  }
})

test('plugins import core only through a concept index.ts, and never another plugin', () => {
  for (const f of tsFiles(join(root, 'plugins'))) {
    const own = relative(root, f).split(sep).slice(0, 2).join('/')
    for (const target of imports(f)) {
      if (area(target) === 'core') {
        assert.match(target, /^core\/[a-z0-9-]+\/index\.js$/, `${relative(root, f)} imports ${target}`)
      } else {
        assert.ok(target.startsWith(own + '/'), `${relative(root, f)} imports ${target} outside its plugin`)
      }
    }
  }
})

test('every core concept folder has an index.ts', () => {
  for (const name of readdirSync(join(root, 'core'))) {
    if (statSync(join(root, 'core', name)).isDirectory()) {
      assert.ok(statSync(join(root, 'core', name, 'index.ts')).isFile(), `core/${name}/index.ts`)
    }
  }
})

test('the import scanner itself sees relative imports, dynamic imports and re-exports', () => {
  const self = imports(join(root, 'cli', 'main.ts'))
  assert.ok(self.includes('emulator/cli.js'), JSON.stringify(self))
  assert.ok(self.includes('cli/commands/version.js'), JSON.stringify(self))
  assert.ok(self.includes('cli/command.js'), JSON.stringify(self))
})
