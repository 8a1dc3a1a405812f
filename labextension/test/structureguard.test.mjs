// Unit tests of the read-only notebook's guard (src/structureguard.ts) on real @jupyter/ydoc notebooks.
// Run: jlpm test (builds lib/ first).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { YNotebook } from '@jupyter/ydoc';
import * as Y from 'yjs';

import { refuseStructuralEdits, refusesStructuralEdits } from '../lib/structureguard.js';

/** A notebook with cells `cellIds`; disposed after `body` (its awareness timer would keep Node alive). */
async function withNotebook(body, cellIds = ['a', 'b', 'c']) {
  const notebook = YNotebook.create();
  try {
    for (const id of cellIds) {
      notebook.addCell({ cell_type: 'code', id, source: `cell ${id}` });
    }
    await body(notebook);
  } finally {
    notebook.dispose();
  }
}

const ids = notebook => notebook.cells.map(cell => cell.getId());

test('a guarded notebook refuses to insert, delete or move cells, and writes nothing', async () => {
  await withNotebook(notebook => {
    let refused = 0;
    refuseStructuralEdits(notebook, () => refused++);
    const updates = [];
    notebook.ydoc.on('update', update => updates.push(update));

    notebook.deleteCell(0);
    notebook.deleteCellRange(0, 3);
    notebook.moveCell(0, 2);
    notebook.moveCells(1, 0, 2);
    const inserted = notebook.insertCell(1, { cell_type: 'markdown', source: 'pasted' });
    notebook.insertCells(0, [{ cell_type: 'code', source: 'x' }, { cell_type: 'raw', source: 'y' }]);
    notebook.addCell({ cell_type: 'code', source: 'z' });

    assert.deepEqual(ids(notebook), ['a', 'b', 'c']);
    assert.equal(updates.length, 0, 'no update for the server to refuse');
    assert.equal(refused, 7);
    // What an insertion hands back is a detached cell: commands may fill it without touching the notebook.
    assert.equal(inserted.getSource(), 'pasted');
    inserted.setSource('changed');
    assert.equal(notebook.cells.some(cell => cell.getSource() === 'changed'), false);
  });
});

test('a guarded notebook still shows collaborators\' changes to its cells', async () => {
  await withNotebook(async notebook => {
    refuseStructuralEdits(notebook);
    await withNotebook(writer => {
      // The writer starts from the reader's state, then deletes b and moves c first.
      Y.applyUpdate(writer.ydoc, Y.encodeStateAsUpdate(notebook.ydoc));
      writer.deleteCell(1);
      writer.moveCell(1, 0);
      Y.applyUpdate(notebook.ydoc, Y.encodeStateAsUpdate(writer.ydoc));
    }, []);
    assert.equal(ids(notebook).join(), 'c,a');
  });
});

test('guarding is idempotent and per notebook', async () => {
  await withNotebook(async guarded => {
    let refused = 0;
    refuseStructuralEdits(guarded, () => refused++);
    refuseStructuralEdits(guarded, () => refused++);
    guarded.deleteCell(0);
    assert.equal(refused, 1, 'the second guard does not stack');
    assert.ok(refusesStructuralEdits(guarded));
    await withNotebook(free => {
      assert.equal(refusesStructuralEdits(free), false);
      free.deleteCell(0);
      assert.deepEqual(ids(free), ['b', 'c'], 'other notebooks are not guarded');
    });
  });
});
