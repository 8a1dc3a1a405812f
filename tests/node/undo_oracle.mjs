// Yjs's UndoManager as a test oracle: replays undo scripts on Yjs 13.6 and prints what happened.
//
// Usage: node undo_oracle.mjs < request.json > answer.json
// The request is one JSON object {"scenarios": [scenario...]}; the answer is {"results": [result...]},
// one per scenario: {"ok": true, "trace": [record per step]} or {"ok": false, "step": n, "error": str,
// "trace": [records of the steps before]}.
//
// Scenario:
//   {"clients": [id...], "gc": true, "roots": {"t": "text", "a": "array", "m": "map"}, "steps": [step...]}
//   Peer i is a fresh Y.Doc with clientID clients[i]; its roots are instantiated before any step.
//   Time is fake: Date.now() (what the UndoManager's capture timeout reads) starts at 1000000 and only
//   moves when a step says {"time": t} (milliseconds, set before the step runs).
//
// Steps (each may also carry "time"):
//   {"peer": i, "ops": [op...], "origin": origin}  one local transaction on peer i (origin default null)
//   {"manager": {"peer": i, "scope": "doc" | [path...], "tracked_origins": [origin...] (default [null]),
//                "capture_timeout": ms (default 500), "ignore_remote_map_changes": bool,
//                "delete_filter_keep_types": bool (keep items whose content is a type)}}
//                                         create undo manager number k (k counts managers from 0)
//   {"undo": k} / {"redo": k}            record "result": whether a change was applied
//   {"stop": k}                          stopCapturing
//   {"clear": k, "undo_stack": bool, "redo_stack": bool}   (both default true)
//   {"add_to_scope": k, "scope": [path...]}
//   {"add_origin": k, "origin": origin} / {"remove_origin": k, "origin": origin}
//   {"destroy": k}
//   {"send": [i, j]}                     peer j applies what peer i has and j has not (origin "remote")
//   {"sync": [i, j]}                     send [j, i] then send [i, j]
//   {"noop": true}                       only moves time
//
// Origins: null, a string, {"$class": name} (a fresh instance of a class called name; in tracked_origins:
// the class itself) or {"$um": k} (undo manager k).
// Ops and values are those of yjs_oracle.mjs: text_insert, text_delete, array_insert, array_delete,
// map_set, map_delete, with "path" from a root name through map keys and array indices; nested values
// {"$type": "text"|"array"|"map", "init": ...}. Indices of text are UTF-16 units.
//
// Record per step: {"json": [per peer {root: value}], "sv": [per peer {client: clock}], "stacks": [[undo length, redo length] per manager],
// "events": [[event description...] per manager, emitted during the step], "result": bool (undo/redo)}.
// Event descriptions: "added:undo", "updated:redo", "popped:undo", "cleared:true:false" ...

import { readFileSync } from 'node:fs'

let fakeNow = 1000000
Date.now = () => fakeNow // before Yjs loads: lib0/time keeps a reference to Date.now
const Y = await import('yjs')

const ROOT_GETTERS = {
  text: (doc, name) => doc.getText(name),
  array: (doc, name) => doc.getArray(name),
  map: (doc, name) => doc.getMap(name)
}

function toPlain (v) {
  if (v instanceof Y.Text) return v.toString()
  if (v instanceof Y.Array) return v.toArray().map(toPlain)
  if (v instanceof Y.Map) {
    const out = {}
    for (const [k, x] of v.entries()) out[k] = toPlain(x)
    return out
  }
  if (Array.isArray(v)) return v.map(toPlain)
  if (v !== null && typeof v === 'object') {
    const out = {}
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x)
    return out
  }
  return v
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
  const out = {}
  for (const [k, x] of Object.entries(v)) out[k] = fromSpec(x)
  return out
}

function runScenario (sc) {
  const roots = sc.roots || {}
  const docs = sc.clients.map((id) => {
    const doc = new Y.Doc({ gc: sc.gc !== false })
    doc.clientID = id
    for (const [name, kind] of Object.entries(roots)) ROOT_GETTERS[kind](doc, name)
    return doc
  })
  const classes = new Map()
  const classOf = (name) => {
    if (!classes.has(name)) classes.set(name, { [name]: class {} }[name])
    return classes.get(name)
  }
  const managers = []
  const logs = []
  const origin = (o, asTracked) => {
    if (o === null || o === undefined || typeof o !== 'object') return o === undefined ? null : o
    if ('$class' in o) return asTracked ? classOf(o.$class) : new (classOf(o.$class))()
    if ('$um' in o) return managers[o.$um]
    throw new Error(`bad origin ${JSON.stringify(o)}`)
  }
  const resolve = (doc, path) => {
    let t = ROOT_GETTERS[roots[path[0]]](doc, path[0])
    for (const seg of path.slice(1)) {
      t = t.get(seg)
      if (!(t instanceof Y.AbstractType)) throw new Error(`path ${JSON.stringify(path)} does not lead to a type`)
    }
    return t
  }
  const applyOp = (doc, op) => {
    const t = resolve(doc, op.path)
    switch (op.action) {
      case 'text_insert':
        if (op.index < 0 || op.index > t.length) throw new Error('text_insert out of range')
        t.insert(op.index, op.content); break
      case 'text_delete':
        if (op.index < 0 || op.index + op.length > t.length) throw new Error('text_delete out of range')
        t.delete(op.index, op.length); break
      case 'array_insert':
        if (op.index < 0 || op.index > t.length) throw new Error('array_insert out of range')
        t.insert(op.index, fromSpec(op.values)); break
      case 'array_delete':
        if (op.index < 0 || op.index + op.length > t.length) throw new Error('array_delete out of range')
        t.delete(op.index, op.length); break
      case 'map_set': t.set(op.key, fromSpec(op.value)); break
      case 'map_delete': t.delete(op.key); break
      default: throw new Error(`unknown action ${op.action}`)
    }
  }
  const send = (i, j) => {
    const update = Y.encodeStateAsUpdate(docs[i], Y.encodeStateVector(docs[j]))
    Y.applyUpdate(docs[j], update, 'remote')
  }
  const trace = []
  const steps = sc.steps || []
  for (let s = 0; s < steps.length; s++) {
    const step = steps[s]
    const record = {}
    try {
      if (step.time !== undefined) fakeNow = step.time
      if (step.peer !== undefined) {
        const doc = docs[step.peer]
        doc.transact(() => { for (const op of step.ops) applyOp(doc, op) }, origin(step.origin, false))
      } else if (step.manager !== undefined) {
        const m = step.manager
        const doc = docs[m.peer]
        const scope = m.scope === 'doc' ? doc : m.scope.map((p) => resolve(doc, p))
        const opts = {
          captureTimeout: m.capture_timeout === undefined ? 500 : m.capture_timeout,
          ignoreRemoteMapChanges: !!m.ignore_remote_map_changes
        }
        if (m.tracked_origins !== undefined) opts.trackedOrigins = new Set(m.tracked_origins.map((o) => origin(o, true)))
        if (m.delete_filter_keep_types) opts.deleteFilter = (item) => !(item.content instanceof Y.ContentType)
        const um = new Y.UndoManager(scope, opts)
        const log = []
        um.on('stack-item-added', (e) => log.push(`added:${e.type}`))
        um.on('stack-item-updated', (e) => log.push(`updated:${e.type}`))
        um.on('stack-item-popped', (e) => log.push(`popped:${e.type}`))
        um.on('stack-cleared', (e) => log.push(`cleared:${e.undoStackCleared}:${e.redoStackCleared}`))
        managers.push(um)
        logs.push(log)
      } else if (step.undo !== undefined) {
        record.result = managers[step.undo].undo() !== null
      } else if (step.redo !== undefined) {
        record.result = managers[step.redo].redo() !== null
      } else if (step.stop !== undefined) {
        managers[step.stop].stopCapturing()
      } else if (step.clear !== undefined) {
        managers[step.clear].clear(step.undo_stack !== false, step.redo_stack !== false)
      } else if (step.add_to_scope !== undefined) {
        const um = managers[step.add_to_scope]
        um.addToScope(step.scope.map((p) => resolve(um.doc, p)))
      } else if (step.add_origin !== undefined) {
        managers[step.add_origin].addTrackedOrigin(origin(step.origin, true))
      } else if (step.remove_origin !== undefined) {
        managers[step.remove_origin].removeTrackedOrigin(origin(step.origin, true))
      } else if (step.destroy !== undefined) {
        managers[step.destroy].destroy()
      } else if (step.send !== undefined) {
        send(step.send[0], step.send[1])
      } else if (step.sync !== undefined) {
        send(step.sync[1], step.sync[0])
        send(step.sync[0], step.sync[1])
      } else if (!step.noop) {
        throw new Error('unknown step')
      }
    } catch (e) {
      return { ok: false, step: s, error: String(e && e.stack ? e.stack : e), trace }
    }
    record.json = docs.map((d) => {
      const out = {}
      for (const [name, kind] of Object.entries(roots)) out[name] = toPlain(ROOT_GETTERS[kind](d, name))
      return out
    })
    record.sv = docs.map((d) => Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(d))))
    record.stacks = managers.map((um) => [um.undoStack.length, um.redoStack.length])
    record.events = logs.map((log) => log.splice(0, log.length))
    trace.push(record)
  }
  return { ok: true, trace }
}

const request = JSON.parse(readFileSync(0, 'utf8'))
const results = request.scenarios.map(runScenario)
process.stdout.write(JSON.stringify({ results }) + '\n')
