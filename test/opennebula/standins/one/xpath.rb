#!/usr/bin/env node
// Stand-in for OpenNebula's remotes/datastore/xpath.rb (a Ruby/REXML helper that is not among the
// upstream files beside the project, and Ruby is not installed): the ssh driver's scripts pipe a
// document into it and read one value per XPath argument, each ended by a NUL, as the real one
// prints them. Only the XPath forms those scripts use are understood: absolute paths of element
// names, each step optionally with [N], [last()], [last()-N] or [CHILD=value]; a `%m%` prefix
// joins every match with spaces. --stdin reads the document from stdin (also the default);
// -b/--base64 DOC takes it from the argument.
'use strict'
const fs = require('node:fs')

/** A small XML reader: elements with children and text (CDATA and the five entities). */
function parse(xml) {
  const root = { name: '#doc', children: [], text: '' }
  const stack = [root]
  const re = /<!\[CDATA\[([\s\S]*?)\]\]>|<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<\/([^\s>]+)\s*>|<([^\s/>]+)[^>]*?(\/?)>|([^<]+)/g
  const ent = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&')
  let m
  while ((m = re.exec(xml)) !== null) {
    const top = stack[stack.length - 1]
    if (m[1] !== undefined) top.text += m[1]
    else if (m[2] !== undefined) stack.pop()
    else if (m[3] !== undefined) {
      const el = { name: m[3], children: [], text: '' }
      top.children.push(el)
      if (m[4] !== '/') stack.push(el)
    } else if (m[5] !== undefined) top.text += ent(m[5])
  }
  return root
}

function select(doc, xpath) {
  const steps = xpath.replace(/^\/+/, '').split('/').filter((s) => s !== '')
  let nodes = [doc]
  for (const step of steps) {
    const sm = /^([^[\]]+)(?:\[(.+)\])?$/.exec(step)
    if (sm === null) return []
    const [, name, pred] = sm
    const next = []
    for (const n of nodes) {
      let kids = n.children.filter((c) => c.name === name)
      if (pred !== undefined) {
        const last = /^last\(\)(?:\s*-\s*([0-9]+))?$/.exec(pred)
        const eq = /^([A-Za-z_][\w-]*)\s*=\s*['"]?([^'"]*)['"]?$/.exec(pred)
        if (last !== null) {
          const k = kids[kids.length - 1 - Number(last[1] ?? 0)]
          kids = k === undefined ? [] : [k]
        } else if (/^[0-9]+$/.test(pred)) {
          const k = kids[Number(pred) - 1]
          kids = k === undefined ? [] : [k]
        } else if (eq !== null) {
          kids = kids.filter((k) => k.children.some((c) => c.name === eq[1] && c.text.trim() === eq[2]))
        } else {
          kids = []
        }
      }
      next.push(...kids)
    }
    nodes = next
  }
  return nodes
}

const args = process.argv.slice(2)
let b64
const paths = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--stdin' || args[i] === '-s' || args[i] === '--subtree' || args[i] === '-t') continue
  if (args[i] === '--base64' || args[i] === '-b') {
    b64 = args[++i]
    continue
  }
  paths.push(args[i])
}
const xml = b64 !== undefined ? Buffer.from(b64, 'base64').toString('utf8') : fs.readFileSync(0, 'utf8')
const doc = parse(xml)
let out = ''
for (const p of paths) {
  if (p.startsWith('%m%')) out += select(doc, p.slice(3)).map((n) => n.text).join(' ')
  else {
    const n = select(doc, p)[0]
    if (n !== undefined) out += n.text
  }
  out += '\0'
}
process.stdout.write(out + '\n')
