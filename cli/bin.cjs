#!/usr/bin/env node
// The installed `linstor-virt` command (dist/linstor-virt.js; dist/ is CommonJS). `call`, the
// one-shot transport the shims start once per storage operation when no agent answers, runs from
// a CommonJS bundle of its own so it starts without Node's ESM loader (bench/agent measures the
// difference) and through V8's code cache (code-cache.js); every other command runs from the
// code-split ESM bundle (main.mjs).
'use strict'
if (process.argv[2] === 'call') require('./code-cache.js').loadBundle(require('node:path').join(__dirname, 'one-shot.js')).exports.main()
else import('./main.mjs')
