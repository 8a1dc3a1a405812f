// Yjs 13.6 as the benchmark anchor: runs the same work as benchmarks/run.py, timed inside this process.
//
// Usage: node yjs_bench.mjs REQUEST.json      (prints one JSON object on stdout)
//
// Request: {"traces_dir": str, "runs": int, "cap_seconds": float, "node_modules": str?, "tasks": [task...]}
// Each task gets one entry in the answer's "results" (same order); a task that throws answers
// {"kind": ..., "error": str} and the others still run.
//
// Tasks (positions in traces count code points; the harness checks there are no astral characters, so they
// are also UTF-16 indices, which is what Y.Text counts):
//   {"kind": "local", "trace": name, "limit": n|null}
//       Replay the first `limit` patches (all if null) into a fresh Y.Doc (clientID 1), each delete and each
//       insert its own call (so its own transaction), with doc.on('update') attached. `runs` times.
//       Then encode the final document and load the update into fresh docs (reading the text's length),
//       max(runs, 5) times each, after `warmup_calls` (default 5) untimed calls of each, so that V8 has
//       compiled Yjs's encoder and decoder before the timed calls.
//   {"kind": "scaling", "trace": name, "limit": n|null}
//       Each run: the replay once into a fresh doc, then twice into another one, the second pass offset by
//       the first pass' final length (typing the text again at its end). Reports both times and their ratio.
//   {"kind": "concurrent", "trace": name, "limit": n|null}
//       One Y.Doc per agent; before a txn, its agent applies the updates of every ancestor it lacks (in txn
//       order, one applyUpdate each); the txn is one transaction. At the end every agent catches up.
//   {"kind": "notebook", "cells": n, "lines": n, "peers": n, "keystrokes": n}
//       Build a notebook (root Array "cells" of Y.Maps with a Y.Text "source") in one transaction, encode
//       it, load it; then `peers` peers loaded from it type `keystrokes` characters each into their own
//       cell, round-robin, every update delivered to every other peer at once.
//   {"kind": "verify", "trace": name, "limit": n|null, "updates_file": path}
//       Apply the updates in updates_file (each: u32 little-endian length, then the bytes), in order, to a
//       fresh Y.Doc and report the text it ends with.
//   {"kind": "memory", "trace": name, "limit": n|null}
//       One replay, sampling process RSS every 4096 patches (start node with --expose-gc for heap numbers).
//
// Times are seconds from performance.now(); "cpu_times" (local replays) are the process' CPU seconds from
// process.cpuUsage(), V8's helper threads included. "sha256" fields hash UTF-8 text or update bytes.

import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import zlib from 'node:zlib'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const CHUNK = 4096
const SHORT_REPS = 5 // encode and load take milliseconds: at least this many timed calls (as on the Python side)
const WARMUP_CALLS = 5 // untimed calls first (req.warmup_calls overrides): V8 compiles the decoder meanwhile

async function loadYjs (modulesDir) {
  const dir = modulesDir || path.join(HERE, 'node_modules')
  const pkgFile = path.join(dir, 'yjs', 'package.json')
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'))
  let entry = pkg.module ? path.join(dir, 'yjs', pkg.module) : null
  if (!entry || !fs.existsSync(entry)) entry = createRequire(pkgFile).resolve('yjs')
  const Y = await import(pathToFileURL(entry).href)
  return { Y, version: pkg.version }
}

const now = () => performance.now() / 1000
const sha256 = (data) => createHash('sha256').update(data).digest('hex')

const traceCache = new Map()
function loadTrace (dir, name) {
  if (!traceCache.has(name)) {
    const raw = zlib.gunzipSync(fs.readFileSync(path.join(dir, `${name}.json.gz`)))
    traceCache.set(name, JSON.parse(raw.toString('utf8')))
  }
  return traceCache.get(name)
}

function flatPatches (trace, limit) {
  const out = []
  for (const txn of trace.txns) {
    for (const p of txn.patches) {
      if (limit != null && out.length >= limit) return out
      out.push(p)
    }
  }
  return out
}

function chunks (list) {
  const out = []
  for (let i = 0; i < list.length; i += CHUNK) out.push(list.slice(i, i + CHUNK))
  return out
}

// One replay of `parts` (chunks of patches) into `text`, `offset` added to every position.
// Returns the number of patches done (fewer than all if the deadline passed).
function replayInto (text, parts, offset, deadline) {
  let done = 0
  for (const part of parts) {
    for (const [pos, del, ins] of part) {
      if (del) text.delete(pos + offset, del)
      if (ins) text.insert(pos + offset, ins)
    }
    done += part.length
    if (now() > deadline) break
  }
  return done
}

function newDoc (Y, clientID) {
  const doc = new Y.Doc()
  if (clientID != null) doc.clientID = clientID
  return doc
}

function taskLocal (Y, req, task) {
  const trace = loadTrace(req.traces_dir, task.trace)
  const patches = flatPatches(trace, task.limit)
  const parts = chunks(patches)
  const times = []
  const cpuTimes = []
  let doc = null
  let done = 0
  let capped = false
  for (let r = 0; r < req.runs && !capped; r++) {
    doc = null
    globalThis.gc?.()
    doc = newDoc(Y, 1)
    const text = doc.getText('text')
    let bytes = 0
    doc.on('update', (u) => { bytes += u.length })
    const c0 = process.cpuUsage()
    const t0 = now()
    done = replayInto(text, parts, 0, t0 + req.cap_seconds)
    times.push(now() - t0)
    const cpu = process.cpuUsage(c0)
    cpuTimes.push((cpu.user + cpu.system) / 1e6)
    capped = done < patches.length
    if (bytes === 0 && patches.length) throw new Error('no update was emitted')
  }
  const res = { kind: 'local', trace: task.trace, patches: patches.length, done, capped, times, cpu_times: cpuTimes }
  res.text_sha256 = sha256(doc.getText('text').toString())
  if (capped) return res
  const reps = Math.max(req.runs, SHORT_REPS)
  const warmup = req.warmup_calls ?? WARMUP_CALLS
  const encodeTimes = []
  let update = null
  for (let r = 0; r < warmup; r++) update = Y.encodeStateAsUpdate(doc) // untimed
  for (let r = 0; r < reps; r++) {
    const t0 = now()
    update = Y.encodeStateAsUpdate(doc)
    encodeTimes.push(now() - t0)
  }
  const loadTimes = []
  let loaded = null
  for (let r = 0; r < warmup; r++) { // untimed
    loaded = new Y.Doc()
    Y.applyUpdate(loaded, update)
    loaded.getText('text').length
  }
  for (let r = 0; r < reps; r++) {
    loaded = null
    const fresh = new Y.Doc()
    const t0 = now()
    Y.applyUpdate(fresh, update)
    fresh.getText('text').length // as the Python engines read the text's length
    loadTimes.push(now() - t0)
    loaded = fresh
  }
  Object.assign(res, {
    encode_times: encodeTimes,
    update_size: update.length,
    update_sha256: sha256(update),
    load_times: loadTimes,
    loaded_ok: loaded.getText('text').toString() === doc.getText('text').toString()
  })
  return res
}

function taskScaling (Y, req, task) {
  // each run: the trace once into a fresh doc, then twice into another (paired, like the Python side)
  const trace = loadTrace(req.traces_dir, task.trace)
  const patches = flatPatches(trace, task.limit)
  const parts = chunks(patches)
  const n = patches.length
  const times = []
  const times1x = []
  const ratios = []
  const passRatios = [] // the 2x run's second pass over its first (as on the Python side)
  let done = 0
  let sha = null
  const fresh = () => {
    globalThis.gc?.()
    const doc = newDoc(Y, 1)
    const counter = { bytes: 0 }
    doc.on('update', (u) => { counter.bytes += u.length })
    return doc.getText('text')
  }
  for (let r = 0; r < req.runs; r++) {
    let text = fresh()
    let t0 = now()
    done = replayInto(text, parts, 0, t0 + req.cap_seconds)
    const t1 = now() - t0
    if (done < n) break
    text = fresh()
    t0 = now()
    const deadline = t0 + req.cap_seconds
    done = replayInto(text, parts, 0, deadline)
    const tFirst = now() - t0
    let tSecond = 0
    if (done === n) {
      const tMid = now()
      done += replayInto(text, parts, text.length, deadline)
      tSecond = now() - tMid
    }
    const t2 = now() - t0
    times1x.push(t1)
    times.push(t2)
    if (done < 2 * n) break
    ratios.push(t2 / t1)
    passRatios.push(tSecond / tFirst)
    sha = sha256(text.toString())
  }
  return {
    kind: 'scaling', trace: task.trace, patches: 2 * n, done, capped: done < 2 * n, times, times_1x: times1x, ratios,
    pass_ratios: passRatios, text_sha256: sha
  }
}

function taskConcurrent (Y, req, task) {
  const trace = loadTrace(req.traces_dir, task.trace)
  const txns = task.limit == null ? trace.txns : trace.txns.slice(0, task.limit)
  const nAgents = trace.numAgents
  const times = []
  let texts = null
  let deliveries = 0
  for (let r = 0; r < req.runs; r++) {
    globalThis.gc?.()
    const docs = []
    const ytexts = []
    const outbox = []
    for (let a = 0; a < nAgents; a++) {
      const d = newDoc(Y, a + 1)
      d.on('update', (u) => { outbox.push(u) })
      docs.push(d)
      ytexts.push(d.getText('text'))
    }
    const known = docs.map(() => new Uint8Array(txns.length))
    const updates = new Array(txns.length).fill(null)
    deliveries = 0
    const bringUp = (agent, parents) => {
      const have = known[agent]
      const missing = []
      const stack = parents.filter((p) => !have[p])
      for (const p of stack) have[p] = 2
      while (stack.length) {
        const t = stack.pop()
        missing.push(t)
        for (const p of txns[t].parents) {
          if (!have[p]) { have[p] = 2; stack.push(p) }
        }
      }
      missing.sort((a, b) => a - b)
      const doc = docs[agent]
      for (const t of missing) {
        have[t] = 1
        if (updates[t] !== null) { Y.applyUpdate(doc, updates[t], 'remote'); deliveries++ }
      }
    }
    const t0 = now()
    for (let i = 0; i < txns.length; i++) {
      const txn = txns[i]
      const agent = txn.agent
      bringUp(agent, txn.parents)
      const text = ytexts[agent]
      outbox.length = 0
      docs[agent].transact(() => {
        for (const [pos, del, ins] of txn.patches) {
          if (del) text.delete(pos, del)
          if (ins) text.insert(pos, ins)
        }
      })
      updates[i] = outbox.length ? outbox[0] : null
      known[agent][i] = 1
    }
    const all = txns.map((_, i) => i)
    for (let a = 0; a < nAgents; a++) bringUp(a, all)
    times.push(now() - t0)
    texts = ytexts.map((t) => t.toString())
  }
  return {
    kind: 'concurrent',
    trace: task.trace,
    txns: txns.length,
    times,
    deliveries,
    converged: texts.every((t) => t === texts[0]),
    text_sha256: sha256(texts[0])
  }
}

// Notebook content: must match benchmarks/workloads.py (cell_source, cell_id, typing position).
const cellId = (i) => `cell-${String(i).padStart(5, '0')}`
function cellSource (i, lines) {
  let s = ''
  for (let j = 0; j < lines; j++) s += `line ${j} of cell ${i}: value = ${i} * ${j}  # comment\n`
  return s
}
function typingPos (src) {
  // end of the 10th line (before its newline), or of the last line if shorter
  let pos = -1
  for (let k = 0; k < 10; k++) {
    const nl = src.indexOf('\n', pos + 1)
    if (nl < 0) break
    pos = nl
  }
  return Math.max(pos, 0)
}
const TYPED = 'abcdefghijklmnopqrstuvwxyz'

function buildNotebook (Y, nCells, lines) {
  const doc = newDoc(Y, 1)
  const cells = doc.getArray('cells')
  doc.transact(() => {
    const items = []
    for (let i = 0; i < nCells; i++) {
      const m = new Y.Map()
      m.set('id', cellId(i))
      m.set('cell_type', 'code')
      m.set('source', new Y.Text(cellSource(i, lines)))
      m.set('metadata', new Y.Map())
      m.set('outputs', new Y.Array())
      m.set('execution_count', null)
      items.push(m)
    }
    cells.insert(0, items)
  })
  return doc
}

function taskNotebook (Y, req, task) {
  const { cells: nCells, lines, peers: nPeers, keystrokes } = task
  const build = []
  const encode = []
  const load = []
  const typing = []
  let update = null
  let converged = true
  for (let r = 0; r < req.runs; r++) {
    globalThis.gc?.()
    let t0 = now()
    const doc = buildNotebook(Y, nCells, lines)
    build.push(now() - t0)
    t0 = now()
    update = Y.encodeStateAsUpdate(doc)
    encode.push(now() - t0)
    const fresh = new Y.Doc()
    t0 = now()
    Y.applyUpdate(fresh, update)
    load.push(now() - t0)
  }
  for (let r = 0; r < req.runs; r++) {
    globalThis.gc?.()
    const outbox = []
    const docs = []
    const texts = []
    const cursors = []
    const step = Math.floor(nCells / nPeers)
    for (let p = 0; p < nPeers; p++) {
      const d = newDoc(Y, 100 + p)
      Y.applyUpdate(d, update)
      d.on('update', (u) => { outbox.push(u) })
      const t = d.getArray('cells').get(p * step).get('source')
      docs.push(d)
      texts.push(t)
      cursors.push(typingPos(t.toString()))
    }
    const t0 = now()
    for (let k = 0; k < keystrokes; k++) {
      const ch = TYPED[k % TYPED.length]
      for (let p = 0; p < nPeers; p++) {
        outbox.length = 0
        texts[p].insert(cursors[p] + k, ch)
        const u = outbox[0]
        for (let q = 0; q < nPeers; q++) {
          if (q !== p) Y.applyUpdate(docs[q], u, 'remote')
        }
      }
    }
    typing.push(now() - t0)
    const ref = docs[0].getArray('cells').toJSON()
    const refS = JSON.stringify(ref.map((c) => c.source))
    for (const d of docs) {
      if (JSON.stringify(d.getArray('cells').toJSON().map((c) => c.source)) !== refS) converged = false
    }
  }
  return {
    kind: 'notebook',
    build_times: build,
    encode_times: encode,
    load_times: load,
    update_size: update.length,
    update_sha256: sha256(update),
    typing_times: typing,
    edits: nPeers * keystrokes,
    deliveries: nPeers * keystrokes * (nPeers - 1),
    converged
  }
}

function taskVerify (Y, req, task) {
  const buf = fs.readFileSync(task.updates_file)
  const doc = new Y.Doc()
  let off = 0
  let n = 0
  while (off < buf.length) {
    const len = buf.readUInt32LE(off)
    off += 4
    Y.applyUpdate(doc, buf.subarray(off, off + len))
    off += len
    n++
  }
  const text = doc.getText('text').toString()
  return { kind: 'verify', trace: task.trace, updates: n, text_sha256: sha256(text), text_length: text.length }
}

function taskMemory (Y, req, task) {
  // Peak RSS growth is sampled between chunks (V8 may reuse heap that parsing the trace freed, so it can
  // read low); the retained heap is exact: heapUsed with the final document alive minus without it.
  const patches = flatPatches(loadTrace(req.traces_dir, task.trace), task.limit)
  const parts = chunks(patches)
  traceCache.clear()
  globalThis.gc?.()
  const rssBefore = process.memoryUsage.rss()
  let peak = rssBefore
  let doc = newDoc(Y, 1)
  let text = doc.getText('text')
  let bytes = 0
  doc.on('update', (u) => { bytes += u.length })
  for (const part of parts) {
    for (const [pos, del, ins] of part) {
      if (del) text.delete(pos, del)
      if (ins) text.insert(pos, ins)
    }
    const rss = process.memoryUsage.rss()
    if (rss > peak) peak = rss
  }
  const sha = sha256(text.toString())
  let retained = null
  if (globalThis.gc) {
    globalThis.gc()
    const withDoc = process.memoryUsage().heapUsed
    doc = text = null
    globalThis.gc()
    retained = withDoc - process.memoryUsage().heapUsed
  }
  return { kind: 'memory', trace: task.trace, rss_growth: peak - rssBefore, heap_retained: retained, text_sha256: sha }
}

const TASKS = {
  local: taskLocal,
  scaling: taskScaling,
  concurrent: taskConcurrent,
  notebook: taskNotebook,
  verify: taskVerify,
  memory: taskMemory
}

async function main () {
  const req = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
  req.runs = req.runs || 3
  req.cap_seconds = req.cap_seconds || 60
  const { Y, version } = await loadYjs(req.node_modules)
  const results = []
  for (const task of req.tasks) {
    try {
      const fn = TASKS[task.kind]
      if (!fn) throw new Error(`unknown task kind ${task.kind}`)
      results.push(fn(Y, req, task))
    } catch (err) {
      results.push({ kind: task.kind, trace: task.trace, error: String(err && err.stack ? err.stack : err) })
    }
  }
  process.stdout.write(JSON.stringify({ ok: true, yjs: version, node: process.version, results }) + '\n')
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) }) + '\n')
  process.exit(1)
})
