// Yjs as a test oracle: one Node process answers JSON-lines requests for a whole pytest session.
//
// Protocol: every line on stdin is one JSON request; every request gets exactly one line on stdout:
//   {"id": <echoed>, "ok": true, ...answer}   or   {"id": <echoed>, "ok": false, "error": str, "stack": str}
// Binary data (updates, state vectors) travels as standard base64. Indices are Yjs's own: text indices
// and lengths count UTF-16 code units (JavaScript string indices); array indices count elements.
//
// Request kinds
//   {"kind": "ping"}
//       -> {"yjs": version}
//   {"kind": "apply", "updates": [b64...], "gc": true, "roots": {"t": "text", "a": "array", "m": "map"},
//    "state_vector": b64?}
//       Applies the updates in order to one fresh Y.Doc (the roots are instantiated first).
//       -> {"json": {root: value}, "update": full-state b64, "state_vector": b64,
//           "diff": b64 (only if state_vector was given: encodeStateAsUpdate(doc, state_vector)),
//           "pending": bool (structs or deletions still wait for missing updates)}
//   {"kind": "merge_updates", "updates": [b64...]}              -> {"update": b64}
//   {"kind": "diff_update", "update": b64, "state_vector": b64}  -> {"update": b64}
//   {"kind": "state_vector_from_update", "update": b64}         -> {"state_vector": b64}
//   {"kind": "describe", "update": b64}
//       -> {"structs": [str...], "delete_set": [[client, clock, len]...]}  (human-readable, for reports)
//   {"kind": "script", "clients": [id...], "gc": true, "roots": {name: kind}, "steps": [step...],
//    "trace": false}
//       Replays a multi-peer scenario. Peer i is a fresh Y.Doc whose clientID is clients[i] (set right
//       after construction) and whose roots are instantiated before any step. Steps:
//         {"peer": i, "ops": [op...]}   one local transaction on peer i (also accepted: "op": op).
//                                       The k-th such step is "transaction k"; it owns update index k.
//         {"deliver": k | [k...], "to": i}   apply transaction k's update(s) to peer i, in the given order
//                                       (an index whose transaction emitted nothing is skipped).
//         {"sync": [i, j]}              i applies encodeStateAsUpdate(j, sv(i)), then j applies
//                                       encodeStateAsUpdate(i, sv(j)).
//       -> {"updates": [b64 | null per transaction (null: the transaction changed nothing)],
//           "json": [per peer {root: value}], "states": [per peer full-state b64],
//           "state_vectors": [per peer b64], "pending": [per peer bool],
//           "trace": [after each step, per peer {root: value}] if asked}
//       An op that throws fails the whole request with "step N: ..." in the error.
//   {"kind": "replay_trace", "path": "x.json.gz", "client_id": 1, "limit": n?, "gc": true}
//       Replays a sequential editing trace (JSON, gzipped if the name ends in .gz; patches [pos, del, ins]
//       with UTF-16 positions, so only BMP-only traces give code point positions) into root Text "text",
//       one transaction per txn (the first ``limit`` txns if given).
//       -> {"text": str, "update": full-state b64, "state_vector": b64, "txns": count replayed}
//   {"kind": "batch", "requests": [request...]}
//       -> {"answers": [answer...]}  (each answer has its own "ok"; one failing does not stop the rest)
//
// Operations (inside "ops"). "path" starts with a root name, then map keys (strings) and array indices
// (integers) lead into nested types; the path must end at a Y.Text, Y.Array or Y.Map. "root_kind" is
// optional and, if given, must match the kind the root was declared with.
//   {"path": ["t"], "action": "text_insert", "index": i, "content": str}
//   {"path": ["t"], "action": "text_delete", "index": i, "length": n}
//   {"path": ["a"], "action": "array_insert", "index": i, "values": [value...]}
//   {"path": ["a"], "action": "array_push", "values": [value...]}
//   {"path": ["a"], "action": "array_delete", "index": i, "length": n}
//   {"path": ["m"], "action": "map_set", "key": k, "value": value}
//   {"path": ["m"], "action": "map_delete", "key": k}
//   e.g. {"path": ["m", "k", 2], "root_kind": "map", "action": "text_insert", "index": 3, "content": "ab"}
//   inserts into the Y.Text at index 2 of the Y.Array under key "k" of root map "m".
//
// Values (in "values", "value" and nested initial content):
//   JSON null / booleans / numbers / strings / arrays / plain objects are stored as they are (JSON.parse
//   decides JS number and key order; the Python side sends ints within +-(2**31-1) when bytes matter);
//   {"$type": "text", "init": str}            new Y.Text(init)
//   {"$type": "array", "init": [value...]}    Y.Array.from(values), nested values converted recursively
//   {"$type": "map", "init": [[key, value]...]}  new Y.Map(entries); a list of pairs keeps the order
//   {"$bytes": b64}                           a Uint8Array
//   {"$undefined": true}                      undefined
//
// JSON of a document ("json" answers): Y.Text -> string, Y.Array -> list, Y.Map -> object, nested types
// converted recursively, Uint8Array -> {"$bytes": b64}, undefined -> {"$undefined": true}.

import * as fs from 'node:fs'
import * as readline from 'node:readline'
import * as zlib from 'node:zlib'
import { createRequire } from 'node:module'
import * as Y from 'yjs'

const require = createRequire(import.meta.url)
const YJS_VERSION = require('yjs/package.json').version

const b64 = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64')
const unb64 = (s) => new Uint8Array(Buffer.from(s, 'base64'))

const ROOT_GETTERS = {
  text: (doc, name) => doc.getText(name),
  array: (doc, name) => doc.getArray(name),
  map: (doc, name) => doc.getMap(name)
}

function makeDoc (gc, roots, clientId) {
  const doc = new Y.Doc({ gc: gc !== false })
  if (clientId !== undefined && clientId !== null) doc.clientID = clientId
  for (const [name, kind] of Object.entries(roots || {})) {
    const getter = ROOT_GETTERS[kind]
    if (!getter) throw new Error(`unknown root kind ${JSON.stringify(kind)} for root ${JSON.stringify(name)}`)
    getter(doc, name)
  }
  return doc
}

function toPlain (v) {
  if (v instanceof Y.Text) return v.toString()
  if (v instanceof Y.Array) return v.toArray().map(toPlain)
  if (v instanceof Y.Map) {
    const out = {}
    for (const [k, x] of v.entries()) out[k] = toPlain(x)
    return out
  }
  if (v instanceof Uint8Array) return { $bytes: b64(v) }
  if (v === undefined) return { $undefined: true }
  if (Array.isArray(v)) return v.map(toPlain)
  if (v !== null && typeof v === 'object') {
    const out = {}
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x)
    return out
  }
  return v
}

function rootsJson (doc, roots) {
  const out = {}
  for (const [name, kind] of Object.entries(roots || {})) out[name] = toPlain(ROOT_GETTERS[kind](doc, name))
  return out
}

function fromSpec (v) {
  if (Array.isArray(v)) return v.map(fromSpec)
  if (v === null || typeof v !== 'object') return v
  if ('$type' in v) {
    switch (v.$type) {
      case 'text': return new Y.Text(v.init === undefined ? undefined : v.init)
      case 'array': return Y.Array.from((v.init || []).map(fromSpec))
      case 'map': return new Y.Map((v.init || []).map(([k, x]) => [k, fromSpec(x)]))
      default: throw new Error(`unknown $type ${JSON.stringify(v.$type)}`)
    }
  }
  if ('$bytes' in v) return unb64(v.$bytes)
  if ('$undefined' in v) return undefined
  const out = {}
  for (const [k, x] of Object.entries(v)) out[k] = fromSpec(x)
  return out
}

function resolve (doc, roots, op) {
  const path = op.path
  if (!Array.isArray(path) || path.length === 0) throw new Error('op.path must be a non-empty list')
  const kind = roots[path[0]]
  if (kind === undefined) throw new Error(`root ${JSON.stringify(path[0])} was not declared in "roots"`)
  if (op.root_kind !== undefined && op.root_kind !== kind) {
    throw new Error(`root ${JSON.stringify(path[0])} is a ${kind}, not a ${op.root_kind}`)
  }
  let t = ROOT_GETTERS[kind](doc, path[0])
  for (let i = 1; i < path.length; i++) {
    const seg = path[i]
    let next
    if (t instanceof Y.Map && typeof seg === 'string') {
      next = t.get(seg)
    } else if (t instanceof Y.Array && typeof seg === 'number') {
      if (seg < 0 || seg >= t.length) throw new Error(`path ${JSON.stringify(path)}: index ${seg} out of range`)
      next = t.get(seg)
    } else {
      throw new Error(`path ${JSON.stringify(path)}: cannot step with ${JSON.stringify(seg)}`)
    }
    if (!(next instanceof Y.AbstractType)) {
      throw new Error(`path ${JSON.stringify(path)}: ${JSON.stringify(seg)} does not lead to a shared type`)
    }
    t = next
  }
  return t
}

function expect (t, cls, action) {
  if (!(t instanceof cls)) throw new Error(`${action} needs a ${cls.name}, the path leads to ${t.constructor.name}`)
}

function applyOp (doc, roots, op) {
  const t = resolve(doc, roots, op)
  switch (op.action) {
    case 'text_insert':
      expect(t, Y.Text, op.action)
      if (op.index < 0 || op.index > t.length) throw new Error(`text_insert index ${op.index} > length ${t.length}`)
      t.insert(op.index, op.content)
      break
    case 'text_delete':
      expect(t, Y.Text, op.action)
      if (op.index < 0 || op.index + op.length > t.length) {
        throw new Error(`text_delete ${op.index}+${op.length} > length ${t.length}`)
      }
      t.delete(op.index, op.length)
      break
    case 'array_insert':
      expect(t, Y.Array, op.action)
      t.insert(op.index, fromSpec(op.values))
      break
    case 'array_push':
      expect(t, Y.Array, op.action)
      t.push(fromSpec(op.values))
      break
    case 'array_delete':
      expect(t, Y.Array, op.action)
      t.delete(op.index, op.length === undefined ? 1 : op.length)
      break
    case 'map_set':
      expect(t, Y.Map, op.action)
      t.set(op.key, fromSpec(op.value))
      break
    case 'map_delete':
      expect(t, Y.Map, op.action)
      t.delete(op.key)
      break
    default:
      throw new Error(`unknown action ${JSON.stringify(op.action)}`)
  }
}

function runScript (req) {
  const roots = req.roots || {}
  const clients = req.clients
  if (!Array.isArray(clients) || clients.length === 0) throw new Error('script needs "clients"')
  const docs = clients.map((id) => makeDoc(req.gc, roots, id))
  const updates = []
  let recording = null
  docs.forEach((doc) => {
    doc.on('update', (update) => {
      if (recording !== null && recording.doc === doc) recording.emitted.push(update)
    })
  })
  const trace = req.trace ? [] : null
  const steps = req.steps || []
  for (let s = 0; s < steps.length; s++) {
    const step = steps[s]
    try {
      if (step.peer !== undefined) {
        const doc = docs[step.peer]
        if (!doc) throw new Error(`no peer ${step.peer}`)
        const ops = step.ops || [step.op]
        recording = { doc, emitted: [] }
        try {
          doc.transact(() => { for (const op of ops) applyOp(doc, roots, op) })
        } finally {
          const emitted = recording.emitted
          recording = null
          if (emitted.length > 1) throw new Error(`one transaction emitted ${emitted.length} updates`)
          updates.push(emitted.length ? emitted[0] : null)
        }
      } else if (step.deliver !== undefined) {
        const doc = docs[step.to]
        if (!doc) throw new Error(`no peer ${step.to}`)
        const idx = Array.isArray(step.deliver) ? step.deliver : [step.deliver]
        for (const k of idx) {
          if (k < 0 || k >= updates.length) throw new Error(`deliver: no transaction ${k} yet`)
          if (updates[k] !== null) Y.applyUpdate(doc, updates[k])
        }
      } else if (step.sync !== undefined) {
        const [i, j] = step.sync
        const a = docs[i]
        const b = docs[j]
        if (!a || !b) throw new Error(`sync: no peer ${i} or ${j}`)
        Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)))
        Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
      } else {
        throw new Error(`unknown step ${JSON.stringify(step)}`)
      }
    } catch (e) {
      e.message = `step ${s} (${JSON.stringify(step)}): ${e.message}`
      throw e
    }
    if (trace) trace.push(docs.map((d) => rootsJson(d, roots)))
  }
  const answer = {
    updates: updates.map((u) => (u === null ? null : b64(u))),
    json: docs.map((d) => rootsJson(d, roots)),
    states: docs.map((d) => b64(Y.encodeStateAsUpdate(d))),
    state_vectors: docs.map((d) => b64(Y.encodeStateVector(d))),
    pending: docs.map(hasPending)
  }
  if (trace) answer.trace = trace
  return answer
}

function hasPending (doc) {
  return doc.store.pendingStructs !== null || doc.store.pendingDs !== null
}

function runApply (req) {
  const doc = makeDoc(req.gc, req.roots)
  for (const u of req.updates || []) Y.applyUpdate(doc, unb64(u))
  const answer = {
    json: rootsJson(doc, req.roots),
    update: b64(Y.encodeStateAsUpdate(doc)),
    state_vector: b64(Y.encodeStateVector(doc)),
    pending: hasPending(doc)
  }
  if (req.state_vector !== undefined) answer.diff = b64(Y.encodeStateAsUpdate(doc, unb64(req.state_vector)))
  return answer
}

function replayTrace (req) {
  let raw = fs.readFileSync(req.path)
  if (req.path.endsWith('.gz')) raw = zlib.gunzipSync(raw)
  const trace = JSON.parse(raw.toString('utf8'))
  const doc = makeDoc(req.gc, { text: 'text' }, req.client_id === undefined ? 1 : req.client_id)
  const text = doc.getText('text')
  if (trace.startContent) text.insert(0, trace.startContent)
  const txns = req.limit === undefined || req.limit === null ? trace.txns : trace.txns.slice(0, req.limit)
  for (const txn of txns) {
    doc.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del) text.delete(pos, del)
        if (ins) text.insert(pos, ins)
      }
    })
  }
  return {
    text: text.toString(),
    update: b64(Y.encodeStateAsUpdate(doc)),
    state_vector: b64(Y.encodeStateVector(doc)),
    txns: txns.length
  }
}

function idStr (id) {
  return id ? `${id.client}:${id.clock}` : '-'
}

function describeContent (c) {
  const name = c.constructor.name
  if (c instanceof Y.ContentString) return `String ${JSON.stringify(c.str)}`
  if (c instanceof Y.ContentAny) return `Any ${JSON.stringify(c.arr)}`
  if (c instanceof Y.ContentDeleted) return `Deleted ${c.len}`
  if (c instanceof Y.ContentType) return `Type ${c.type.constructor.name}`
  if (c instanceof Y.ContentBinary) return `Binary ${b64(c.content)}`
  if (c instanceof Y.ContentJSON) return `JSON ${JSON.stringify(c.arr)}`
  return name
}

function describe (req) {
  const { structs, ds } = Y.decodeUpdate(unb64(req.update))
  const out = structs.map((s) => {
    const head = `${s.constructor.name} ${s.id.client}:${s.id.clock} len ${s.length}`
    if (!(s instanceof Y.Item)) return head
    let parent = ''
    if (s.parent !== null && s.parent !== undefined) {
      parent = typeof s.parent === 'string' ? ` parent ${JSON.stringify(s.parent)}` : ` parent ${idStr(s.parent)}`
    }
    const sub = s.parentSub !== null ? ` key ${JSON.stringify(s.parentSub)}` : ''
    return `${head} origin ${idStr(s.origin)} right ${idStr(s.rightOrigin)}${parent}${sub} ${describeContent(s.content)}`
  })
  const dels = []
  for (const [client, ranges] of ds.clients) for (const r of ranges) dels.push([client, r.clock, r.len])
  return { structs: out, delete_set: dels }
}

function handle (req) {
  switch (req.kind) {
    case 'ping': return { yjs: YJS_VERSION }
    case 'apply': return runApply(req)
    case 'script': return runScript(req)
    case 'merge_updates': return { update: b64(Y.mergeUpdates(req.updates.map(unb64))) }
    case 'diff_update': return { update: b64(Y.diffUpdate(unb64(req.update), unb64(req.state_vector))) }
    case 'state_vector_from_update': return { state_vector: b64(Y.encodeStateVectorFromUpdate(unb64(req.update))) }
    case 'describe': return describe(req)
    case 'replay_trace': return replayTrace(req)
    case 'batch': return { answers: req.requests.map(answer) }
    default: throw new Error(`unknown request kind ${JSON.stringify(req.kind)}`)
  }
}

function answer (req) {
  try {
    return { id: req.id, ok: true, ...handle(req) }
  } catch (e) {
    return { id: req.id, ok: false, error: String(e && e.message ? e.message : e), stack: String(e && e.stack) }
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false })
rl.on('line', (line) => {
  if (!line.trim()) return
  let req
  try {
    req = JSON.parse(line)
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: null, ok: false, error: `bad JSON request: ${e.message}` }) + '\n')
    return
  }
  process.stdout.write(JSON.stringify(answer(req)) + '\n')
})
rl.on('close', () => process.exit(0))
