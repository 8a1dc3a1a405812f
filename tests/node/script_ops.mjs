// Script operations shared by the Yjs oracles (events_oracle.mjs, snapshot_oracle.mjs): root getters,
// plain JSON of shared types, values from their JSON spec, and one operation applied at a path.
// The operation vocabulary is documented at the top of snapshot_oracle.mjs.
import * as Y from 'yjs'

export const b64 = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64')

export const GETTERS = {
  text: (doc, name) => doc.getText(name),
  array: (doc, name) => doc.getArray(name),
  map: (doc, name) => doc.getMap(name)
}

export function plain (v) {
  if (v instanceof Y.Text) return v.toString()
  if (v instanceof Y.Array) return v.toArray().map(plain)
  if (v instanceof Y.Map) {
    const out = {}
    for (const [k, x] of v.entries()) out[k] = plain(x)
    return out
  }
  if (v instanceof Uint8Array) return { $bytes: b64(v) }
  if (v === undefined) return { $undefined: true }
  if (Array.isArray(v)) return v.map(plain)
  if (v !== null && typeof v === 'object') {
    const out = {}
    for (const [k, x] of Object.entries(v)) out[k] = plain(x)
    return out
  }
  return v
}


export function fromSpec (v) {
  if (Array.isArray(v)) return v.map(fromSpec)
  if (v === null || typeof v !== 'object') return v
  if ('$type' in v) {
    if (v.$type === 'text') return new Y.Text(v.init === undefined ? undefined : v.init)
    if (v.$type === 'array') return Y.Array.from((v.init || []).map(fromSpec))
    if (v.$type === 'map') return new Y.Map((v.init || []).map(([k, x]) => [k, fromSpec(x)]))
    throw new Error(`unknown $type ${v.$type}`)
  }
  if ('$bytes' in v) return new Uint8Array(Buffer.from(v.$bytes, 'base64'))
  const out = {}
  for (const [k, x] of Object.entries(v)) out[k] = fromSpec(x)
  return out
}

export function resolve (doc, roots, path) {
  let t = GETTERS[roots[path[0]]](doc, path[0])
  for (const seg of path.slice(1)) {
    t = t.get(seg)
    if (!(t instanceof Y.AbstractType)) throw new Error(`path ${JSON.stringify(path)} does not lead to a type`)
  }
  return t
}

export function applyOp (doc, roots, op) {
  const t = resolve(doc, roots, op.path)
  switch (op.action) {
    case 'text_insert': return t.insert(op.index, op.content)
    case 'text_delete': return t.delete(op.index, op.length)
    case 'text_format': return t.format(op.index, op.length, op.attributes)
    case 'array_insert': return t.insert(op.index, fromSpec(op.values))
    case 'array_delete': return t.delete(op.index, op.length)
    case 'map_set': return t.set(op.key, fromSpec(op.value))
    case 'map_delete': return t.delete(op.key)
    default: throw new Error(`unknown action ${op.action}`)
  }
}

