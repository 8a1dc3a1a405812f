// The browser's notebook model, @jupyter/ydoc's YNotebook, as an oracle for jupyter-crdt's notebook schema.
//
// Reads one JSON request from stdin and writes one JSON answer to stdout (its warnings go to stderr):
//   request:  {"forward": [{"name", "update": base64}], "reverse": [{"name", "notebook": {...}}]}
//   answer:   {"forward": [{"name", "ok", "notebook"?, "error"?}],
//              "reverse": [{"name", "ok", "update"?: base64, "notebook"?, "error"?}]}
// forward: a YNotebook is built from the update our Python code encoded, and its toJSON() is returned.
// reverse: YNotebook.create({data}) builds the notebook in JavaScript (as JupyterLab loads a file);
//          its full state as a Yjs v1 update goes back to Python, with its own toJSON() for comparison.
import * as Y from 'yjs';
import { YNotebook } from '@jupyter/ydoc';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const answer = { forward: [], reverse: [] };
for (const { name, update } of request.forward ?? []) {
  const ynb = new YNotebook();
  try {
    Y.applyUpdate(ynb.ydoc, new Uint8Array(Buffer.from(update, 'base64')));
    answer.forward.push({ name, ok: true, notebook: ynb.toJSON() });
  } catch (e) {
    answer.forward.push({ name, ok: false, error: String(e && e.message ? e.message : e) });
  } finally {
    ynb.dispose();
  }
}
for (const { name, notebook } of request.reverse ?? []) {
  try {
    const ynb = YNotebook.create({ data: notebook });
    const update = Y.encodeStateAsUpdate(ynb.ydoc);
    answer.reverse.push({
      name,
      ok: true,
      update: Buffer.from(update).toString('base64'),
      notebook: ynb.toJSON()
    });
    ynb.dispose();
  } catch (e) {
    answer.reverse.push({ name, ok: false, error: String(e && e.message ? e.message : e) });
  }
}
// A YNotebook that threw half-built keeps its awareness timer alive: exit once the answer is out.
process.stdout.write(JSON.stringify(answer), () => process.exit(0));
