// Yjs as the oracle for observers and events: replays scripts with fixed client ids and logs every
// observer call (event.delta / event.keys / event.path, deep event lists) as Yjs 13.6.33 makes them.
// Self-contained; used by tests/crdt/test_events.py.
//
// Usage: node events_oracle.mjs < request.json > answer.json
// Request: {"scripts": [script...]}. Answer: {"yjs": version, "results": [{"ok": true, ...} |
// {"ok": false, "error": str}]}, one result per script. Binary data travels as standard base64.
//
// A script: {"clients": [id...], "gc": true, "roots": {name: "text"|"array"|"map"}, "steps": [step...]}
// Peer i is a Y.Doc with clientID clients[i]. Before any step, every root of every peer gets one
// observe() and one observeDeep() observer. Steps:
//   {"peer": i, "ops": [op...], "origin": str?}   one local transaction on peer i; the k-th such step
//                                                 is "transaction k" and owns update k
//   {"deliver": k | [k...], "to": i}             Y.applyUpdate(peer i, update k, "remote"), in order
//                                                 (a transaction that emitted nothing is skipped)
//   {"apply": b64, "to": i}                      Y.applyUpdate(peer i, bytes, "remote")
//   {"sync": [i, j]}                             i and j exchange what the other is missing
//   {"observe": path, "peer": i, "deep": bool}   one more observer on the type at path
//   {"unobserve": path, "peer": i, "deep": bool} remove the observer added for that path
// Operations: as in snapshot_oracle.mjs (text_insert, text_delete, text_format, array_insert,
// array_delete, map_set, map_delete), indices in UTF-16 units.
//
// Result of a script:
//   "log": per peer, the observer calls in the order they happened:
//     {"step": s, "observer": [path of the observed type], "deep": bool, "events": [event...]}
//     (an observe() call logs a one-event list). An event is
//     {"target": [absolute path of event.target], "path": event.path, "delta": event.delta,
//      "keys": {key: {"action", "oldValue"}}, "local": transaction.local, "origin": transaction.origin}
//     Shared types inside deltas and old values are written {"$shared": kind, "value": plain data}.
//   "updates": [b64 | null per transaction]
//   "final": per peer roots as plain data

import { createRequire } from 'node:module'
import * as Y from 'yjs'
import { GETTERS, applyOp, b64, fromSpec, plain, resolve } from './script_ops.mjs'

const require = createRequire(import.meta.url)
const YJS_VERSION = require('yjs/package.json').version

const unb64 = (s) => new Uint8Array(Buffer.from(s, 'base64'))

function kindOf (t) {
  if (t instanceof Y.Text) return 'text'
  if (t instanceof Y.Array) return 'array'
  if (t instanceof Y.Map) return 'map'
  return t.constructor.name
}

// Like plain(), but a shared type says that it is one.
function tagged (v) {
  if (v instanceof Y.AbstractType) return { $shared: kindOf(v), value: plain(v) }
  if (Array.isArray(v)) return v.map(tagged)
  return plain(v)
}

// Path from the document's root: root name, then keys and indices (indices count visible units).
function absPath (type) {
  const path = []
  while (type._item !== null) {
    const item = type._item
    if (item.parentSub !== null) {
      path.unshift(item.parentSub)
    } else {
      let i = 0
      for (let c = item.parent._start; c !== item && c !== null; c = c.right) {
        if (!c.deleted && c.countable) i += c.length
      }
      path.unshift(i)
    }
    type = item.parent
  }
  for (const [name, t] of type.doc.share) {
    if (t === type) {
      path.unshift(name)
      break
    }
  }
  return path
}

function eventJson (event, transaction) {
  const keys = {}
  for (const [k, change] of event.keys) keys[k] = { action: change.action, oldValue: tagged(change.oldValue) }
  return {
    target: absPath(event.target),
    path: event.path,
    delta: event.delta.map((op) => {
      const out = {}
      for (const [k, v] of Object.entries(op)) out[k] = k === 'insert' ? tagged(v) : plain(v)
      return out
    }),
    keys,
    local: transaction.local,
    origin: transaction.origin === null || typeof transaction.origin === 'string' ? transaction.origin : '?'
  }
}

function run (script) {
  const roots = script.roots || {}
  const state = { step: -1 }
  const logs = script.clients.map(() => [])
  const handlers = script.clients.map(() => new Map())
  const docs = script.clients.map((id, p) => {
    const doc = new Y.Doc({ gc: script.gc !== false })
    doc.clientID = id
    for (const [name, kind] of Object.entries(roots)) GETTERS[kind](doc, name)
    return doc
  })
  const observe = (p, path, deep) => {
    const t = resolve(docs[p], roots, path)
    const label = JSON.stringify([path, deep])
    let h
    if (deep) {
      h = (events, tr) => logs[p].push({ step: state.step, observer: path, deep, events: events.map((e) => eventJson(e, tr)) })
      t.observeDeep(h)
    } else {
      h = (event, tr) => logs[p].push({ step: state.step, observer: path, deep, events: [eventJson(event, tr)] })
      t.observe(h)
    }
    handlers[p].set(label, [t, h])
  }
  docs.forEach((doc, p) => {
    for (const name of Object.keys(roots)) {
      observe(p, [name], false)
      observe(p, [name], true)
    }
  })
  const updates = []
  let recording = null
  docs.forEach((doc) => doc.on('update', (u) => { if (recording !== null && recording.doc === doc) recording.out.push(u) }))
  script.steps.forEach((step, s) => {
    state.step = s
    try {
      if (step.ops !== undefined) {
        const doc = docs[step.peer]
        recording = { doc, out: [] }
        try {
          doc.transact(() => { for (const op of step.ops) applyOp(doc, roots, op) }, step.origin === undefined ? null : step.origin)
        } finally {
          updates.push(recording.out.length ? recording.out[0] : null)
          recording = null
        }
      } else if (step.deliver !== undefined) {
        const ks = Array.isArray(step.deliver) ? step.deliver : [step.deliver]
        for (const k of ks) if (updates[k] !== null) Y.applyUpdate(docs[step.to], updates[k], 'remote')
      } else if (step.apply !== undefined) {
        Y.applyUpdate(docs[step.to], unb64(step.apply), 'remote')
      } else if (step.sync !== undefined) {
        const [a, b] = step.sync.map((i) => docs[i])
        Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)), 'remote')
        Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)), 'remote')
      } else if (step.observe !== undefined) {
        observe(step.peer, step.observe, !!step.deep)
      } else if (step.unobserve !== undefined) {
        const label = JSON.stringify([step.unobserve, !!step.deep])
        const [t, h] = handlers[step.peer].get(label)
        if (step.deep) t.unobserveDeep(h)
        else t.unobserve(h)
        handlers[step.peer].delete(label)
      } else {
        throw new Error('unknown step')
      }
    } catch (e) {
      throw new Error(`step ${s} ${JSON.stringify(step)}: ${e.message}`)
    }
  })
  const final = docs.map((d) => {
    const out = {}
    for (const [name, kind] of Object.entries(roots)) out[name] = plain(GETTERS[kind](d, name))
    return out
  })
  return { log: logs, updates: updates.map((u) => (u === null ? null : b64(u))), final }
}

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => { input += chunk })
process.stdin.on('end', () => {
  const req = JSON.parse(input)
  const results = req.scripts.map((script) => {
    try {
      return { ok: true, ...run(script) }
    } catch (e) {
      return { ok: false, error: String(e && e.stack ? e.stack : e) }
    }
  })
  process.stdout.write(JSON.stringify({ yjs: YJS_VERSION, results }))
})
