#!/usr/bin/env node
// `npm run lint`: type-aware ESLint over the project (installs the dependencies first on a fresh clone).
import { join } from 'node:path'
import { ensureDeps, root, run } from './lib.mjs'

ensureDeps()
process.exit(run(process.execPath, [join(root, 'node_modules', 'eslint', 'bin', 'eslint.js'), '.', ...process.argv.slice(2)]))
