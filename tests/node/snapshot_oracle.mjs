// Yjs as the oracle for snapshots: replays scripts with fixed client ids, takes snapshots, and reports
// what Yjs 13.6.33 makes of them. Self-contained; used by tests/crdt/test_snapshot.py.
//
// Usage: node snapshot_oracle.mjs < request.json > answer.json
// Request: {"scripts": [script...]}. Answer: {"yjs": version, "results": [{"ok": true, ...} |
// {"ok": false, "error": str}]}, one result per script. Binary data travels as standard base64.
//
// A script: {"clients": [id...], "gc": false, "roots": {name: "text"|"array"|"map"}, "steps": [step...]}
// Peer i is a Y.Doc with clientID clients[i] (gc as given, default false); its roots exist before any step.
// Steps:
//   {"peer": i, "ops": [op...]}          one local transaction on peer i
//   {"sync": [i, j]}                     i and j exchange what the other is missing (state-vector diffs)
//   {"apply": b64, "to": i}              Y.applyUpdate(peer i, bytes)
//   {"snapshot": name, "peer": i}        Y.snapshot(peer i) now, kept under `name`
// Operations (indices are JavaScript's: UTF-16 units for text):
//   {"path": [root, key|index...], "action": "text_insert", "index", "content"}
//   {"path": [...], "action": "text_delete", "index", "length"}
//   {"path": [...], "action": "text_format", "index", "length", "attributes": {...}}
//   {"path": [...], "action": "array_insert", "index", "values": [value...]}
//   {"path": [...], "action": "array_delete", "index", "length"}
//   {"path": [...], "action": "map_set", "key", "value"}
//   {"path": [...], "action": "map_delete", "key"}
// Values: JSON as is; {"$type": "text"|"array"|"map", "init": ...} makes a nested type (map init is a
// list of [key, value] pairs); {"$bytes": b64} is a Uint8Array.
//
// Result of a script:
//   "final": per peer {"json": roots as plain data, "state": full-state update}
//   "snapshots": {name: {
//       "peer": i,
//       "encoded": Y.encodeSnapshot(snapshot),
//       "roundtrip_equal": equalSnapshots(decodeSnapshot(encoded), snapshot),
//       "doc": roots of Y.createDocFromSnapshot(final peer doc, snapshot) as plain data,
//       "doc_state": encodeStateAsUpdate of that doc,
//       "delta": {text root: toDelta(snapshot)},
//       "delta_prev": {text root: toDelta(snapshot, previous snapshot of the same peer)} (if there is one),
//       "prev": name of that previous snapshot or null}}
//     All of these are computed at the end of the script, against the peer's final document.
//   "equal": [[name1, name2, equalSnapshots(s1, s2)] for every pair of snapshots]
//   "source_state_after": per peer the full-state update after all createDocFromSnapshot calls
//     (to check that reading the past did not change the document).

import { createRequire } from 'node:module'
import * as Y from 'yjs'
import { GETTERS, applyOp, b64, fromSpec, plain, resolve } from './script_ops.mjs'

const require = createRequire(import.meta.url)
const YJS_VERSION = require('yjs/package.json').version


function rootsJson (doc, roots) {
  const out = {}
  for (const [name, kind] of Object.entries(roots)) out[name] = plain(GETTERS[kind](doc, name))
  return out
}

function run (script) {
  const roots = script.roots || {}
  const docs = script.clients.map((id) => {
    const doc = new Y.Doc({ gc: script.gc === true })
    doc.clientID = id
    for (const [name, kind] of Object.entries(roots)) GETTERS[kind](doc, name)
    return doc
  })
  const snaps = new Map()
  script.steps.forEach((step, s) => {
    try {
      if (step.ops !== undefined) {
        const doc = docs[step.peer]
        doc.transact(() => { for (const op of step.ops) applyOp(doc, roots, op) })
      } else if (step.sync !== undefined) {
        const [a, b] = step.sync.map((i) => docs[i])
        Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
        Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
      } else if (step.apply !== undefined) {
        Y.applyUpdate(docs[step.to], new Uint8Array(Buffer.from(step.apply, 'base64')))
      } else if (step.snapshot !== undefined) {
        snaps.set(step.snapshot, { peer: step.peer, snap: Y.snapshot(docs[step.peer]) })
      } else {
        throw new Error('unknown step')
      }
    } catch (e) {
      throw new Error(`step ${s} ${JSON.stringify(step)}: ${e.message}`)
    }
  })
  const final = docs.map((d) => ({ json: rootsJson(d, roots), state: b64(Y.encodeStateAsUpdate(d)) }))
  const snapshots = {}
  const lastOfPeer = new Map()
  for (const [name, { peer, snap }] of snaps) {
    const doc = docs[peer]
    const encoded = Y.encodeSnapshot(snap)
    const newDoc = new Y.Doc()
    newDoc.clientID = 999999
    for (const [rname, kind] of Object.entries(roots)) GETTERS[kind](newDoc, rname)
    Y.createDocFromSnapshot(doc, snap, newDoc)
    const prev = lastOfPeer.get(peer) || null
    const delta = {}
    const deltaPrev = {}
    for (const [rname, kind] of Object.entries(roots)) {
      if (kind !== 'text') continue
      delta[rname] = plain(doc.getText(rname).toDelta(snap))
      if (prev !== null) deltaPrev[rname] = plain(doc.getText(rname).toDelta(snap, snaps.get(prev).snap))
    }
    snapshots[name] = {
      peer,
      encoded: b64(encoded),
      roundtrip_equal: Y.equalSnapshots(Y.decodeSnapshot(encoded), snap),
      doc: rootsJson(newDoc, roots),
      doc_state: b64(Y.encodeStateAsUpdate(newDoc)),
      delta,
      delta_prev: prev === null ? null : deltaPrev,
      prev
    }
    lastOfPeer.set(peer, name)
  }
  const names = [...snaps.keys()]
  const equal = []
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      equal.push([names[i], names[j], Y.equalSnapshots(snaps.get(names[i]).snap, snaps.get(names[j]).snap)])
    }
  }
  const after = docs.map((d) => b64(Y.encodeStateAsUpdate(d)))
  return { final, snapshots, equal, source_state_after: after }
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
