/**
 * What oned and the OpenNebula operator can hand the driver: XML documents (well-formed or not,
 * base64 or plain, truncated, huge, deeply nested, with entity tricks), datastore templates with
 * wrong attributes, and argv/stdin of any shape for every TM and DS action, hostile host:path
 * strings included. Documents parse or fail with ONE_DOCUMENT_INVALID and a short one-line reason;
 * templates fail with CONFIG_INVALID naming "datastore <id> <ATTRIBUTE>"; actions answer cleanly
 * within their deadline, and ssh is never started for a host name that is not one.
 */
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { ConfigError } from '../../core/errors/index.js'
import { silentLogger } from '../../core/log/index.js'
import { ServiceRegistry } from '../../core/protocol/index.js'
import { buildDispatcher } from '../../cli/dispatcher.js'
import { ONE_DS_ACTIONS, ONE_TM_ACTIONS } from '../../plugins/opennebula/index.js'
import { ATTR, oneSettings } from '../../plugins/opennebula/settings.js'
import { parseBase64Xml, parseDocument, parseXml } from '../../plugins/opennebula/xml.js'
import type { XmlElement } from '../../plugins/opennebula/xml.js'
import { withEmulator } from '../emulator/helpers.js'
import { tempDir } from '../helpers/core.js'
import { actionData, datastoreXml, vmXml } from '../opennebula/one.js'
import { HOSTILE_STRINGS, anyString, assertErrorReply, dispatchClean, outcome, runs, show } from './arbitraries.js'

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')

/** Every accessor of an element, on every path, must answer (no throw) whatever the document held. */
function walk(e: XmlElement, depth = 0): void {
  void e.text
  e.attributes()
  for (const n of e.childNames()) {
    assert.equal(typeof e.get(n), 'string')
    e.value(n)
    e.all(`${n}/${n}`)
    if (depth < 4) for (const c of e.children(n)) walk(c, depth + 1)
  }
}

/** Characters of text in a parsed document: the leaves' text, every level included. */
function contentSize(e: XmlElement): number {
  const names = e.childNames()
  if (names.length === 0) return e.text.length
  let n = 0
  for (const name of names) for (const c of e.children(name)) n += contentSize(c)
  return n
}

// ------------------------------------------------------------------------------- documents

const VALID_DOCS: readonly string[] = [
  vmXml(7, [{ id: 0, image: 3, persistent: true, sizeMiB: 64, dsId: 100 }, { id: 1, image: 3, clone: true, sizeMiB: 64, dsId: 100 }, { id: 2, volatile: 'swap', sizeMiB: 32, dsId: 0 }], ['alpha', 'bravo']),
  datastoreXml(100, { LINSTOR_CONTROLLERS: 'linstor://127.0.0.1:9', LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo' }),
  Buffer.from(actionData({ ID: '5', SIZE: '64', FORMAT: 'raw', PATH: '/tmp/nope.img', SOURCE: 'OpenNebula-Image-5' }, datastoreXml(100, { LINSTOR_CONTROLLERS: 'linstor://127.0.0.1:9' })), 'base64').toString('utf8'),
  '<IMAGE><ID>1</ID><TEMPLATE><MD5><![CDATA[abc]]></MD5></TEMPLATE><PATH>/a&amp;b</PATH></IMAGE>',
]

/** A valid document changed a little: cut short, a character dropped, inserted or replaced. */
const mutatedDoc: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...VALID_DOCS), fc.nat(), fc.constantFrom('cut', 'drop', 'insert', 'replace'), fc.constantFrom('<', '>', '/', '&', ']]>', '<![CDATA[', '"', '\0', '&lol;', '</X>', '<A>', 'é', '\ud800'))
  .map(([doc, at, how, junk]) => {
    const i = at % doc.length
    if (how === 'cut') return doc.slice(0, i)
    if (how === 'drop') return doc.slice(0, i) + doc.slice(i + 1)
    if (how === 'insert') return doc.slice(0, i) + junk + doc.slice(i)
    return doc.slice(0, i) + junk + doc.slice(i + junk.length)
  })

function docIsClean(text: string, parse: (t: string) => XmlElement, context: string): void {
  const o = outcome(() => parse(text), context)
  if (o.ok) {
    walk(o.value)
    return
  }
  assert.equal(o.error.code, 'ONE_DOCUMENT_INVALID', `${context}: ${o.error.code}`)
  assert.ok(!o.error.message.includes('\n') && o.error.message.length <= 400, `${context}: message of ${o.error.message.length} characters`)
}

test('documents: any text, mutated documents and their base64 (whole or truncated) parse or are ONE_DOCUMENT_INVALID with a one-line reason', () => {
  const text = fc.oneof(anyString, mutatedDoc, fc.constantFrom(...VALID_DOCS))
  fc.assert(
    fc.property(text, fc.nat(), (t, cut) => {
      docIsClean(t, (x) => parseXml(x), `xml ${JSON.stringify(t.slice(0, 80))}`)
      docIsClean(t, (x) => parseDocument(x, 'VM'), `document ${JSON.stringify(t.slice(0, 80))}`)
      const encoded = b64(t)
      docIsClean(encoded, (x) => parseBase64Xml(x), 'base64')
      docIsClean(encoded.slice(0, cut % (encoded.length + 1)), (x) => parseBase64Xml(x, 'DS_DRIVER_ACTION_DATA'), 'truncated base64')
      docIsClean(`${encoded}\n`, (x) => parseDocument(x, 'DATASTORE'), 'base64 line')
    }),
    runs(1000),
  )
  fc.assert(
    fc.property(fc.oneof(fc.base64String({ maxLength: 200 }), anyString), (t) => {
      docIsClean(t, (x) => parseBase64Xml(x), `base64 ${JSON.stringify(t.slice(0, 40))}`)
    }),
    runs(600),
  )
})

test('documents: deep nesting, entity expansion, external entities, repeated attributes and several MB stay bounded and answer cleanly', () => {
  const lol = (n: number): string => {
    let dtd = '<!ENTITY e0 "lol">'
    for (let i = 1; i <= n; i++) dtd += `<!ENTITY e${i} "${`&e${i - 1};`.repeat(10)}">`
    return `<!DOCTYPE VM [${dtd}]><VM><ID>&e${n};</ID></VM>`
  }
  const disks = (n: number): string => `<VM><ID>1</ID><TEMPLATE>${'<DISK><DISK_ID>1</DISK_ID><SOURCE><![CDATA[OpenNebula-Image-1]]></SOURCE></DISK>'.repeat(n)}</TEMPLATE></VM>`
  // Bounded means: what comes out is never more than what went in (no entity expansion, no
  // amplification), whatever the machine's speed; speed itself is bench/'s business.
  const bounded = (doc: string, encode: boolean): void => {
    for (const text of encode ? [doc, b64(doc)] : [doc]) {
      const context = `${text === doc ? '' : 'base64 '}document of ${doc.length} characters`
      docIsClean(text, (x) => parseDocument(x, 'VM'), context)
      const o = outcome(() => parseDocument(text, 'VM'), context)
      if (o.ok) assert.ok(contentSize(o.value) <= text.length, `${context}: ${contentSize(o.value)} characters of content`)
    }
  }
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer({ min: 1, max: 20_000 }).map((n) => '<A>'.repeat(n) + '</A>'.repeat(n)),
        fc.integer({ min: 1, max: 20_000 }).map((n) => '<A>'.repeat(n)),
        fc.integer({ min: 1, max: 9 }).map(lol),
        fc.constantFrom('<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><VM>&a;</VM>', '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x"> %p;]><VM/>', `<VM ${'a="1" '.repeat(20_000)}/>`, `<VM><ID>${'9'.repeat(400)}</ID></VM>`),
      ),
      (doc) => bounded(doc, true),
    ),
    runs(25),
  )
  // Several MB: a VM with 50,000 disks (about 3 MB), as XML and as base64.
  const huge = disks(50_000)
  assert.ok(huge.length > 3_000_000)
  bounded(huge, false)
  bounded(b64(huge), false)
})

// ------------------------------------------------------------------------------- datastore templates

const dsOf = (attrs: Record<string, string>): XmlElement => parseXml(datastoreXml(100, attrs), 'DATASTORE')

const validTemplate: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      [ATTR.controllers]: fc.constantFrom('linstor://10.0.0.1', 'linstor://a,linstor+ssl://b', '10.0.0.1:3370'),
      [ATTR.placeCount]: fc.integer({ min: 1, max: 16 }).map(String),
      [ATTR.storagePools]: fc.constantFrom('ssd', 'ssd hdd', 'pool-a,pool-b'),
      [ATTR.layers]: fc.constantFrom('drbd storage', 'DRBD,STORAGE'),
      [ATTR.preferLocal]: fc.constantFrom('YES', 'no', 'true', '0'),
      [ATTR.controllerVms]: fc.constantFrom('7', '7 8'),
      BRIDGE_LIST: fc.constantFrom('alpha bravo', ''),
    },
    { requiredKeys: [ATTR.controllers] },
  )

/** An attribute, a wrong value for it, and the attribute the message must name (when not the same). */
const badAttr: fc.Arbitrary<[string, string, string]> = fc.oneof(
  fc.tuple(fc.constant(ATTR.placeCount), fc.constantFrom('0', '17', 'two', '-1', '1.5', '100', '2 3')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constant(ATTR.oldAutoPlace), fc.constantFrom('0', 'x', '99')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constant(ATTR.resourceGroup), fc.constantFrom('1abc', '__', 'x!y', 'A'.repeat(49))).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constantFrom(ATTR.storagePools, ATTR.oldStoragePool), fc.constantFrom('a', '1abc', 'x!y', 'ssd ssd')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constantFrom(ATTR.replicasOnSame, ATTR.replicasOnDifferent), fc.constantFrom('/x', 'a//b', 'a=')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constant(ATTR.doNotPlaceWithRegex), fc.constantFrom('(', '[a-', '*')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constant(ATTR.layers), fc.constantFrom('zfs', 'drbd nvme', 'storage drbd', 'drbd drbd')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constant(ATTR.providers), fc.constantFrom('nope', 'lvm lvm')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constantFrom(ATTR.disklessOnRemaining, ATTR.preferLocal, ATTR.exactSize), fc.constantFrom('maybe', '2', 'ja', 'yess')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constantFrom(ATTR.caFile, ATTR.certFile, ATTR.keyFile, ATTR.tokenFile), fc.constantFrom('x/y', 'cert.pem', '~/key')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constant(ATTR.controllerVms), fc.constantFrom('abc', '-1', '1234567890', '7,x')).map(([a, v]): [string, string, string] => [a, v, a]),
  fc.tuple(fc.constant(ATTR.controllers), fc.constantFrom('ftp://x', 'linstor://a b', 'linstor://h:99999', 'http://user:pw@h', 'linstor://h/path')).map(([a, v]): [string, string, string] => [a, v, a]),
)

test('datastore templates: any attributes give settings or CONFIG_INVALID; one bad attribute in a valid template is named "datastore <id>: <ATTRIBUTE>"', () => {
  const attrNames = [...Object.values(ATTR), 'BRIDGE_LIST', 'SAFE_DIRS', 'RESTRICTED_DIRS', 'STAGING_DIR', 'NO_DECOMPRESS', 'TM_MAD']
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...attrNames), anyString.filter((s) => !s.includes(']]>') && !s.includes('\0') && !/[\ud800-\udfff]/.test(s)), { maxKeys: 6 }), (attrs) => {
      const o = outcome(() => oneSettings(dsOf(attrs), {}), `template ${show(attrs)}`)
      if (o.ok) {
        assert.ok(o.value.core['controllers'] !== undefined)
        for (const id of o.value.controllerVms) assert.ok(Number.isSafeInteger(id))
        return
      }
      assert.ok(o.error instanceof ConfigError)
      for (const i of o.error.issues) assert.ok(i.setting.startsWith('datastore 100: '), i.setting)
    }),
    runs(1500),
  )
  fc.assert(
    fc.property(validTemplate, badAttr, (base, [attr, bad, named]) => {
      const attrs: Record<string, string> = { ...base, [attr]: bad }
      // A resource group places by itself: the other placement attributes go, so only the group is wrong.
      if (attr === ATTR.resourceGroup) for (const k of [ATTR.placeCount, ATTR.storagePools, ATTR.layers]) delete attrs[k]
      // The older addon's attributes are read only when the new ones are unset.
      if (attr === ATTR.oldAutoPlace) delete attrs[ATTR.placeCount]
      if (attr === ATTR.oldStoragePool) delete attrs[ATTR.storagePools]
      const o = outcome(() => oneSettings(dsOf(attrs), {}), `${attr}=${bad}`)
      assert.ok(!o.ok, `${attr} = ${JSON.stringify(bad)} was accepted`)
      assert.equal(o.error.code, 'CONFIG_INVALID')
      assert.ok(o.error.message.includes(`datastore 100: ${named}`), `${attr} = ${JSON.stringify(bad)}: ${o.error.message}`)
    }),
    runs(1500),
  )
})

// ------------------------------------------------------------------------------- actions through the dispatcher

/** Stand-ins for the front-end's tools: onevm & co. print stored documents; ssh records the host it was given and succeeds. */
function frontEnd(dir: string): { bin: string; db: string; sshLog: string } {
  const bin = join(dir, 'bin')
  const db = join(dir, 'db')
  mkdirSync(bin)
  mkdirSync(db)
  for (const kind of ['vm', 'datastore', 'image']) {
    writeFileSync(
      join(bin, `one${kind}`),
      `#!/bin/sh\nf="$LV_PROP_ONE_DB/${kind}-$3.xml"\nif [ "$1" = show ] && [ "$2" = -x ] && [ -f "$f" ]; then exec cat "$f"; fi\necho "[one.${kind}.info] Error getting ${kind} [$3]." >&2\nexit 255\n`,
    )
    chmodSync(join(bin, `one${kind}`), 0o755)
  }
  const sshLog = join(dir, 'ssh.log')
  writeFileSync(join(bin, 'ssh'), '#!/bin/sh\nwhile [ "$#" -gt 0 ]; do if [ "$1" = "--" ]; then printf \'%s\\n\' "$2" >> "$LV_PROP_SSH_LOG"; exit 0; fi; shift; done\nexit 0\n')
  chmodSync(join(bin, 'ssh'), 0o755)
  return { bin, db, sshLog }
}

const HOST = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('alpha', 'bravo', 'charlie', 'frontend') }, fc.constantFrom(...HOSTILE_STRINGS, '-oProxyCommand=id', 'user@alpha', 'ssh://alpha', 'alpha bravo', 'alpha\nbravo', '[::1]'))
const DISK_PATH = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('0', '100'), fc.constantFrom('7', '8'), fc.option(fc.constantFrom(0, 1, 2, 9), { nil: undefined })).map(([ds, vm, d]) => `/var/lib/one//datastores/${ds}/${vm}${d !== undefined ? `/disk.${d}` : ''}`) },
  anyString,
)
const LOCATION = fc.oneof({ weight: 5, arbitrary: fc.tuple(HOST, DISK_PATH).map(([h, p]) => `${h}:${p}`) }, anyString)
const ID = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('7', '0', '100') }, fc.constantFrom('', '-1', '007', '99999999999999999999', '8'), anyString)
const NUMBER = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('64', '128', '0', '1') }, fc.constantFrom('-1', '1.5', '9007199254740993', '8796093022208', 'x', ''), anyString)
const SOURCE = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('fe:OpenNebula-Image-3', 'OpenNebula-Image-3', 'OpenNebula-Image-4') }, anyString)

const DS_DOC = fc
  .record({
    image: fc.record({
      ID: fc.oneof(fc.constantFrom('3', '4', '5'), NUMBER),
      SIZE: NUMBER,
      FORMAT: fc.constantFrom('raw', 'qcow2', 'save_as'),
      PATH: fc.constantFrom('/nonexistent/image.raw', 'http://127.0.0.1:9/image.qcow2', 'OpenNebula-Image-3', ''),
      SOURCE: fc.oneof(fc.constantFrom('OpenNebula-Image-3', 'OpenNebula-Image-4', ''), anyString.filter((s) => !s.includes(']]>'))),
      TARGET_SNAPSHOT: NUMBER,
    }),
    attrs: fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, fc.dictionary(fc.constantFrom(...Object.values(ATTR)), fc.constantFrom('x', '0', '(', 'YES', '/a'), { maxKeys: 2 })),
  })
  .map(({ image, attrs }) => (controllers: string) => actionData(image, datastoreXml(100, { LINSTOR_CONTROLLERS: controllers, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha', ...attrs })))

/** argv for an action: its usual shape, then perhaps one argument replaced, some dropped, or extra ones added. */
function argvFor(action: string): fc.Arbitrary<string[]> {
  const shapes: Record<string, fc.Arbitrary<string[]>> = {
    clone: fc.tuple(SOURCE, LOCATION, ID, ID),
    ln: fc.tuple(SOURCE, LOCATION, ID, ID),
    mkswap: fc.tuple(NUMBER, LOCATION, ID, ID),
    mkimage: fc.tuple(NUMBER, fc.constantFrom('raw', 'qcow2'), LOCATION, ID, ID),
    mvds: fc.tuple(LOCATION, SOURCE, ID, ID),
    cpds: fc.tuple(LOCATION, SOURCE, NUMBER, ID, ID),
    delete: fc.tuple(LOCATION, ID, ID),
    mv: fc.tuple(LOCATION, LOCATION, ID, ID),
    premigrate: fc.tuple(HOST, HOST, DISK_PATH, ID, ID),
    snap_create: fc.tuple(LOCATION, NUMBER, ID, ID),
    resize: fc.tuple(LOCATION, NUMBER, ID, ID),
    prebackup: fc.tuple(LOCATION, fc.constantFrom('0', '0:1', '', 'x:1'), fc.constant('one-7'), fc.constant('3'), ID, ID),
    monitor: fc.tuple(ID),
  }
  const alias: Record<string, string> = { postmigrate: 'premigrate', failmigrate: 'premigrate', snap_create_live: 'snap_create', snap_delete: 'snap_create', snap_revert: 'snap_create', prebackup_live: 'prebackup', postbackup: 'prebackup', postbackup_live: 'prebackup', context: 'mv', restore: 'mv' }
  const shape = shapes[alias[action] ?? action] ?? fc.array(anyString, { maxLength: 6 })
  return fc.tuple(shape, fc.nat({ max: 9 }), fc.nat(), anyString, fc.array(anyString, { maxLength: 3 })).map(([argv, how, at, junk, extra]) => {
    const a = [...argv]
    if (how === 0 && a.length > 0) a[at % a.length] = junk
    if (how === 1) return a.slice(0, at % (a.length + 1))
    if (how === 2) return [...a, ...extra]
    return a
  })
}

test('every TM and DS action, any argv and stdin, against a live controller: a result or a catalogued error, within its deadline, and ssh only ever to host names', async (t) => {
  const emu = await withEmulator(t, { cloneDurationMs: 5 })
  const dir = tempDir(t, 'lv-prop-one-')
  const fe = frontEnd(dir)
  const saved = { PATH: process.env['PATH'], LINSTOR_VIRT_SSH: process.env['LINSTOR_VIRT_SSH'] }
  process.env['PATH'] = `${fe.bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`
  process.env['LINSTOR_VIRT_SSH'] = join(fe.bin, 'ssh')
  process.env['LV_PROP_ONE_DB'] = fe.db
  process.env['LV_PROP_SSH_LOG'] = fe.sshLog
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })
  const store = (kind: string, id: number, xml: string): void => writeFileSync(join(fe.db, `${kind}-${id}.xml`), xml)
  const linstor = { LINSTOR_CONTROLLERS: emu.url, LINSTOR_PLACE_COUNT: '2', BRIDGE_LIST: 'alpha bravo' }
  store('datastore', 100, datastoreXml(100, linstor))
  store('datastore', 0, datastoreXml(0, linstor, { type: 1 }))
  const vm = vmXml(7, [{ id: 0, image: 3, persistent: true, sizeMiB: 64, dsId: 100 }, { id: 1, image: 3, clone: true, sizeMiB: 64, dsId: 100 }, { id: 2, volatile: 'swap', sizeMiB: 32, dsId: 0 }], ['alpha'], 0, 'linstor')
  store('vm', 7, vm)
  store('vm', 8, vm.replace('<ID>7</ID>', '<ID>8</ID>').replace('<DISK_ID><![CDATA[0]]></DISK_ID>', '<DISK_ID><![CDATA[x]]></DISK_ID>'))

  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const config = { deviceRoot: join(dir, 'hosts', '{node}'), lockDir: join(dir, 'locks'), remotes: join(dir, 'remotes') }
  const send = (operation: string, argv: string[], stdin?: string): Promise<unknown> =>
    dispatchClean(dispatcher, services, { v: 1, platform: 'opennebula', operation, arguments: { argv, ...(stdin !== undefined ? { stdin } : {}) }, config, deadlineMs: 8000 }, `${operation} ${show(argv)}`, 8000)
  // The image the VM's disks use, made the way oned makes it.
  await send('ds.mkfs', [actionData({ ID: '3', SIZE: '64', FORMAT: 'raw' }, datastoreXml(100, linstor)), '3'])

  const STDIN = fc.oneof(
    fc.constant(undefined),
    fc.constantFrom(b64(vm), vm, `${b64(vm)}\n`),
    fc.nat().map((n) => b64(vm).slice(0, n % b64(vm).length)),
    DS_DOC.map((d) => d(emu.url)),
    anyString,
  )
  const action = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...ONE_TM_ACTIONS.filter((a) => a !== 'context')).map((a) => `tm.${a}`) },
    { weight: 4, arbitrary: fc.constantFrom(...ONE_DS_ACTIONS.filter((a) => a !== 'cp' && a !== 'stat' && a !== 'export')).map((a) => `ds.${a}`) },
    fc.constantFrom('tm.nope', 'ds.nope', 'tm.clone.ssh', 'tm', 'ds.cp2'),
  )
  const call = action.chain((op) => {
    const name = op.replace(/^(tm|ds)\./, '')
    if (op.startsWith('ds.')) {
      // The three ways oned passes a DS document: in argv, "-" then stdin, or only the id with stdin.
      return fc.tuple(DS_DOC, fc.constantFrom(0, 1, 2), ID, fc.nat()).map(([doc, way, id, cut]): [string, string[], string | undefined] => {
        const d = doc(emu.url)
        const sent = cut % 4 === 0 ? d.slice(0, cut % d.length) : d
        return way === 0 ? [op, [sent, id], undefined] : way === 1 ? [op, ['-', id], sent] : [op, [id], sent]
      })
    }
    return fc.tuple(argvFor(name), STDIN).map(([argv, stdin]): [string, string[], string | undefined] => [op, argv, stdin])
  })
  await fc.assert(
    fc.asyncProperty(call, async ([op, argv, stdin]) => {
      const reply = (await send(op, argv, stdin)) as { error?: { code: string } }
      if (/nope|cp2|clone\.ssh|^tm$/.test(op)) assert.equal(reply.error?.code, 'UNKNOWN_OPERATION')
    }),
    runs(120),
  )
  const hosts = existsSync(fe.sshLog) ? readFileSync(fe.sshLog, 'utf8').split('\n').filter((l) => l !== '') : []
  assert.ok(hosts.length > 0, 'no action reached a host: the property did not exercise ssh')
  for (const h of hosts) assert.match(h, /^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$/, `ssh was started for host ${JSON.stringify(h)}`)
})

test('argv: too few arguments for an action is ONE_DOCUMENT_INVALID naming the missing one; unknown actions are UNKNOWN_OPERATION listing the known ones', async (t) => {
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const config = { lockDir: tempDir(t, 'lv-prop-one-'), remotes: '/nonexistent/remotes' }
  // Actions whose first step reads argument 1: with none given they must say so, before anything else.
  const first = ONE_TM_ACTIONS.filter((a) => !['context', 'restore', 'monitor'].includes(a))
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...first), fc.constantFrom<string[]>([], ['']), async (action, argv) => {
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'opennebula', operation: `tm.${action}`, arguments: { argv }, config, deadlineMs: 3000 }, `tm.${action} ${show(argv)}`, 3000)
      assertErrorReply(reply, 'ONE_DOCUMENT_INVALID', ['missing argument '], `tm.${action}`)
      assert.ok('error' in reply && /^missing argument [1-9] \([a-zA-Z ]+\)$/.test(reply.error.message), JSON.stringify(reply))
    }),
    runs(40),
  )
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ONE_DS_ACTIONS), fc.constantFrom<string[]>([], ['-', '3'], ['3']), async (action, argv) => {
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'opennebula', operation: `ds.${action}`, arguments: { argv }, config, deadlineMs: 3000 }, `ds.${action} ${show(argv)}`, 3000)
      assertErrorReply(reply, 'ONE_DOCUMENT_INVALID', ['no driver action document'], `ds.${action}`)
    }),
    runs(30),
  )
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.constantFrom('tm.', 'ds.'), fc.constant('')).chain((p) => fc.stringMatching(/^[a-z][a-z0-9_.-]{0,20}$/).map((s) => p + s)), async (operation) => {
      fc.pre(!ONE_TM_ACTIONS.some((a) => operation === `tm.${a}`) && !ONE_DS_ACTIONS.some((a) => operation === `ds.${a}`))
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'opennebula', operation, arguments: { argv: [] }, config }, operation)
      assertErrorReply(reply, 'UNKNOWN_OPERATION', [`unknown operation opennebula.${operation}`, 'opennebula has ds.clone'], operation)
    }),
    runs(80),
  )
  // argv and stdin of the wrong type.
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('tm.clone', 'ds.rm'), fc.oneof(fc.constantFrom(undefined, null, 'clone a b', 5, {}, [1], ['a', null]), fc.array(fc.oneof(fc.integer(), fc.boolean()), { minLength: 1, maxLength: 3 })), async (operation, argv) => {
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'opennebula', operation, arguments: { argv }, config }, `${operation} argv=${show(argv)}`)
      assertErrorReply(reply, 'CALL_INVALID', ['arguments.argv'], `${operation} argv=${show(argv)}`)
    }),
    runs(40),
  )
})

test('a DS action with a huge, deep or truncated document on stdin answers quickly with a short reason', async (t) => {
  const services = new ServiceRegistry(true)
  t.after(() => services.close())
  const dispatcher = buildDispatcher(silentLogger())
  const config = { lockDir: tempDir(t, 'lv-prop-one-') }
  const ds = datastoreXml(100, { LINSTOR_CONTROLLERS: 'http://127.0.0.1:9', BRIDGE_LIST: 'x '.repeat(400_000) })
  const big = actionData({ ID: '3', SIZE: 'x', FORMAT: 'raw' }, ds)
  assert.ok(big.length > 1_000_000)
  const docs = fc.constantFrom(
    big,
    big.slice(0, big.length - 3),
    big.slice(0, 1_000_001),
    b64('<DS_DRIVER_ACTION_DATA>'.repeat(50_000)),
    b64(`<DS_DRIVER_ACTION_DATA>${'<A>'.repeat(30_000)}${'</A>'.repeat(30_000)}</DS_DRIVER_ACTION_DATA>`),
    `${b64('<DS_DRIVER_ACTION_DATA>')}====${b64('</DS_DRIVER_ACTION_DATA>')}`,
  )
  await fc.assert(
    fc.asyncProperty(docs, fc.constantFrom('mkfs', 'rm', 'monitor', 'snap_delete'), async (doc, action) => {
      const reply = await dispatchClean(dispatcher, services, { v: 1, platform: 'opennebula', operation: `ds.${action}`, arguments: { argv: ['-', '3'], stdin: doc }, config, deadlineMs: 8000 }, `ds.${action} with ${doc.length} bytes`, 8000)
      // The documents name no image (or an unreachable controller): every one of them is an error,
      // but a monitor with a readable document and no controller, which reports zeros with a warning (issue 20).
      if (action === 'monitor' && 'result' in reply) {
        const r = reply.result as { stdout: string; messages: string[] }
        assert.equal(r.stdout, 'USED_MB=0\nTOTAL_MB=0\nFREE_MB=0\n')
        assert.ok(r.messages.every((m) => m.length < 1000), JSON.stringify(r.messages).slice(0, 200))
        return
      }
      assert.ok('error' in reply, JSON.stringify(reply).slice(0, 200))
      assert.ok(reply.error.message.length < 1000, `a message of ${reply.error.message.length} characters`)
    }),
    runs(12),
  )
})
