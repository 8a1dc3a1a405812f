// Unit tests of the acknowledgement bookkeeping (src/pendingedits.ts) on real Yjs transactions.
// Run: jlpm test (builds lib/ first).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as Y from 'yjs';

import { PendingEdits } from '../lib/pendingedits.js';

/** A document whose local transactions feed a tracker, live or offline as told. */
function setup() {
  const doc = new Y.Doc();
  const pending = new PendingEdits();
  const conn = { live: true };
  doc.on('afterTransaction', tr => pending.recordTransaction(tr, conn.live));
  return { doc, text: doc.getText('source'), pending, conn };
}

test('an insertion is acknowledged once a state vector covers it', () => {
  const { doc, text, pending } = setup();
  text.insert(0, 'abc');
  text.insert(3, 'def');
  assert.equal(pending.count, 2);
  pending.acknowledged(new Map([[doc.clientID, 3]]));
  assert.equal(pending.count, 1, 'the vector covers the first edit only');
  pending.acknowledged(new Map([[doc.clientID + 1, 100]]));
  assert.equal(pending.count, 1, 'another client\'s clock covers nothing of ours');
  pending.acknowledged(Y.decodeStateVector(Y.encodeStateVector(doc)));
  assert.equal(pending.count, 0);
});

test('remote updates are not our edits', () => {
  const { doc, pending } = setup();
  const other = new Y.Doc();
  other.getText('source').insert(0, 'theirs');
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(other), 'remote');
  assert.equal(pending.count, 0);
});

test('a delete-only edit sent live is acknowledged by the next acknowledgement', () => {
  const { doc, text, pending } = setup();
  text.insert(0, 'abc');
  pending.acknowledged(Y.decodeStateVector(Y.encodeStateVector(doc)));
  text.delete(0, 1);
  assert.equal(pending.count, 1);
  pending.acknowledged(Y.decodeStateVector(Y.encodeStateVector(doc)));
  assert.equal(pending.count, 0);
});

test('offline edits wait for the next completed sync, not for a vector', () => {
  const { doc, text, pending, conn } = setup();
  text.insert(0, 'abc');
  pending.acknowledged(Y.decodeStateVector(Y.encodeStateVector(doc)));
  conn.live = false;
  text.delete(0, 1); // delete-only, made offline: no acknowledgement can cover it...
  pending.acknowledged(Y.decodeStateVector(Y.encodeStateVector(doc)));
  assert.equal(pending.count, 1, '...except the sync that carries it');
  pending.socketOpened();
  conn.live = true;
  text.insert(0, 'x'); // made after the socket opened: travels as an update, waits for its ack
  pending.synced();
  assert.equal(pending.count, 1);
  pending.acknowledged(Y.decodeStateVector(Y.encodeStateVector(doc)));
  assert.equal(pending.count, 0);
});

test('edits saved by an earlier page load are acknowledged by the next sync', () => {
  const { text, pending } = setup();
  text.insert(0, 'abc');
  const saved = pending.save();
  const reloaded = new PendingEdits();
  reloaded.restore(saved);
  assert.equal(reloaded.count, 1);
  reloaded.acknowledged(new Map()); // an acknowledgement of nothing
  assert.equal(reloaded.count, 1);
  reloaded.socketOpened();
  reloaded.synced();
  assert.equal(reloaded.count, 0);
});

test('changes are signalled with the new count, and clear forgets everything', () => {
  const { text, pending } = setup();
  const seen = [];
  pending.changed.connect((_, count) => seen.push(count));
  text.insert(0, 'a');
  text.insert(1, 'b');
  pending.clear();
  assert.deepEqual(seen, [1, 2, 0]);
});
