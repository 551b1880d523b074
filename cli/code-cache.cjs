// Loads a CommonJS bundle of ours (dist/one-shot.js) with V8's code cache, so that a short-lived
// process does not parse and compile the whole bundle again: `linstor-virt call --stdin` and the
// OpenNebula driver executables without an agent. Plain CommonJS with node built-ins only (it runs
// before anything else is loaded); Node 18.19 and later (vm.Script's cachedData is much older).
//
// The cache is V8's own serialization of the compiled bundle: V8 checks it against its version,
// its flags and the source's length, and rejects it otherwise (the bundle is then compiled as
// usual). It lives in <bundle dir>/code-cache/, which the Debian package points at
// /var/cache/linstor-virt (writable by root only); a built checkout has the folder itself. The
// file's name carries what V8 does not check (the bundle's inode, size and time, node's version
// and flags), so a new bundle never meets an old cache.
//
// A cache is code: one is used only when the file is owned by this user or root and writable by
// nobody else, so a user who could change it could already run code as this user. It is written
// (atomically, 0644) when there was none or V8 rejected it, at the process's exit, so that it
// holds what the call compiled too; any failure there is ignored (no folder, not writable).
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const vm = require('node:vm')

/** FNV-1a, 32 bits, as hex: a short name for what identifies the bundle and the runtime. */
function fnv(text) {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, '0')
}

/** Whether a cache file may be trusted: ours or root's, writable by nobody else. */
function trusted(st) {
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : -1
  return st.isFile() && (st.uid === uid || st.uid === 0) && (st.mode & 0o022) === 0
}

function readCache(file) {
  let fd
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
    if (!trusted(fs.fstatSync(fd))) return undefined
    return fs.readFileSync(fd)
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

function writeCache(file, data) {
  const tmp = `${file}.${process.pid}.tmp`
  try {
    fs.writeFileSync(tmp, data, { mode: 0o644, flag: 'wx' })
    fs.renameSync(tmp, file)
  } catch {
    try {
      fs.unlinkSync(tmp)
    } catch {
      // nothing was written
    }
    return
  }
  // Caches of earlier bundles for the same node version go (other versions' stay: two runtimes
  // on one host would otherwise remove each other's).
  const dir = path.dirname(file)
  const prefix = path.basename(file).replace(/-[0-9a-f]{8}\.v8$/, '-')
  try {
    for (const f of fs.readdirSync(dir)) if (f.startsWith(prefix) && f.endsWith('.v8') && f !== path.basename(file)) fs.unlinkSync(path.join(dir, f))
  } catch {
    // another process's, or not ours to remove
  }
}

/**
 * module.exports of the CommonJS bundle `file`, compiled from the code cache when there is a good
 * one. `options.cacheDir` overrides the folder (LINSTOR_VIRT_CODE_CACHE does as well; 'off' or ''
 * there: no cache). The result's `cache` says what happened: 'used', 'rejected', 'none' or 'off'.
 */
function loadBundle(file, options = {}) {
  const atExit = options.writeAtExit !== false
  const env = process.env.LINSTOR_VIRT_CODE_CACHE
  const dir = options.cacheDir ?? (env !== undefined ? env : path.join(path.dirname(file), 'code-cache'))
  const fd = fs.openSync(file, 'r')
  let source
  let st
  try {
    st = fs.fstatSync(fd)
    source = fs.readFileSync(fd, 'utf8')
  } finally {
    fs.closeSync(fd)
  }
  const off = dir === '' || dir === 'off'
  const key = fnv([st.dev, st.ino, st.size, st.mtimeMs, process.arch, process.execPath, process.execArgv.join(' ')].join('\0'))
  const cacheFile = off ? undefined : path.join(dir, `${path.basename(file)}-${process.version}-${key}.v8`)
  const cachedData = cacheFile === undefined ? undefined : readCache(cacheFile)
  const wrapper = `(function (exports, require, module, __filename, __dirname) { ${source}\n})`
  const script = new vm.Script(wrapper, { filename: file, ...(cachedData !== undefined ? { cachedData } : {}) })
  const state = off ? 'off' : cachedData === undefined ? 'none' : script.cachedDataRejected === true ? 'rejected' : 'used'
  const mod = { exports: {}, filename: file, id: file, loaded: false }
  const req = require('node:module').createRequire(file)
  script.runInThisContext().call(mod.exports, mod.exports, req, mod, file, path.dirname(file))
  mod.loaded = true
  if (atExit && cacheFile !== undefined && state !== 'used') {
    // At exit: the cache then also holds the functions this call compiled.
    process.once('exit', () => {
      try {
        // A folder this user cannot write (the package's, for a user other than root): the cache
        // is not even made, so that each call does not pay for one it cannot keep.
        fs.accessSync(dir, fs.constants.W_OK)
        writeCache(cacheFile, script.createCachedData())
      } catch {
        // no cache this time
      }
    })
  }
  return { exports: mod.exports, cache: state, cacheFile, script }
}

/**
 * Calls the shims make most that change nothing anywhere (they stop at their arguments), so that
 * a cache made from them holds the code those calls start with (dispatch, the platform's action
 * table, the XML reader), not only what the first call of any kind happened to compile.
 */
const WARM_REQUESTS = [
  { v: 1, platform: 'core', operation: 'ping' },
  { v: 1, platform: 'opennebula', operation: 'tm.mv', arguments: { argv: [] }, config: {}, deadlineMs: 5000 },
  { v: 1, platform: 'opennebula', operation: 'ds.cp', arguments: { argv: [] }, config: {}, deadlineMs: 5000 },
]

/**
 * Writes the code cache of the bundle `file` from a process that ran WARM_REQUESTS through it
 * (the build and the Debian package's postinst run `node code-cache.js`). Replaces a cache there.
 */
async function warm(file, options = {}) {
  const r = loadBundle(file, { ...options, writeAtExit: false })
  for (const req of WARM_REQUESTS) await r.exports.callOnce(JSON.stringify(req), {})
  if (r.cacheFile !== undefined) writeCache(r.cacheFile, r.script.createCachedData())
  return r.cacheFile
}

module.exports = { loadBundle, warm }

if (require.main === module) {
  // `node code-cache.js [BUNDLE]`: warm the cache of BUNDLE (default: one-shot.js beside this file).
  process.env.LINSTOR_VIRT_LOG_LEVEL = 'silent'
  warm(path.resolve(process.argv[2] ?? path.join(__dirname, 'one-shot.js'))).then(
    (written) => process.exit(written === undefined ? 1 : 0),
    (err) => {
      process.stderr.write(`code-cache: ${err && err.message ? err.message : String(err)}\n`)
      process.exit(1)
    },
  )
}
