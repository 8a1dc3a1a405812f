// Unit tests of the read-only notebook's guard (src/readonlyguard.ts) on real @jupyter/ydoc notebooks.
// Run: jlpm test (builds lib/ first).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { YNotebook } from '@jupyter/ydoc';
import * as Y from 'yjs';

import { refuseLocalEdits, refusesLocalEdits } from '../lib/readonlyguard.js';

const OUTPUT = { output_type: 'stream', name: 'stdout', text: 'hello\n' };

/** A notebook with code cells `cellIds` (b has an output); disposed after `body` (its awareness timer
 * would keep Node alive). */
async function withNotebook(body, cellIds = ['a', 'b', 'c']) {
  const notebook = YNotebook.create();
  try {
    notebook.setMetadata('kernelspec', { name: 'python3', display_name: 'Python 3' });
    for (const id of cellIds) {
      notebook.addCell({
        cell_type: 'code', id, source: `cell ${id}`, metadata: { tags: [id] },
        execution_count: id === 'b' ? 1 : null, outputs: id === 'b' ? [OUTPUT] : []
      });
    }
    await body(notebook);
  } finally {
    notebook.dispose();
  }
}

/** Guard `notebook`, recording what it refuses and every update it would send. */
function guardAndWatch(notebook) {
  const refused = [];
  refuseLocalEdits(notebook, refusal => refused.push(refusal));
  const updates = [];
  notebook.ydoc.on('update', update => updates.push(update));
  return { refused, updates };
}

const ids = notebook => notebook.cells.map(cell => cell.getId());
const snapshot = notebook => JSON.stringify(notebook.toJSON());

/** A writer's copy of `notebook`, `change` applied to it, sent back to `notebook` as the provider would. */
function collaboratorChanges(notebook, change) {
  const writer = new YNotebook();
  try {
    Y.applyUpdate(writer.ydoc, Y.encodeStateAsUpdate(notebook.ydoc));
    change(writer);
    Y.applyUpdate(notebook.ydoc, Y.encodeStateAsUpdate(writer.ydoc));
  } finally {
    writer.dispose();
  }
}

test('a guarded notebook refuses to insert, delete or move cells, and writes nothing', async () => {
  await withNotebook(notebook => {
    const { refused, updates } = guardAndWatch(notebook);

    notebook.deleteCell(0);
    notebook.deleteCellRange(0, 3);
    notebook.moveCell(0, 2);
    notebook.moveCells(1, 0, 2);
    const inserted = notebook.insertCell(1, { cell_type: 'markdown', source: 'pasted' });
    notebook.insertCells(0, [{ cell_type: 'code', source: 'x' }, { cell_type: 'raw', source: 'y' }]);
    notebook.addCell({ cell_type: 'code', source: 'z' });

    assert.deepEqual(ids(notebook), ['a', 'b', 'c']);
    assert.equal(updates.length, 0, 'no update for the server to refuse');
    assert.deepEqual(refused.map(r => r.change), ['deleteCellRange', 'deleteCellRange', 'moveCells', 'moveCells',
      'insertCells', 'insertCells', 'insertCells']);
    assert.ok(refused.every(r => r.notebook === notebook && r.cell === null));
    // What an insertion hands back is a detached cell: commands may fill it without touching the notebook.
    assert.equal(inserted.getSource(), 'pasted');
    inserted.setSource('changed');
    assert.equal(inserted.getSource(), 'changed');
    assert.equal(notebook.cells.some(cell => cell.getSource() === 'changed'), false);
  });
});

test('a guarded notebook refuses every change to its cells\' content and to its own metadata', async () => {
  await withNotebook(notebook => {
    const before = snapshot(notebook);
    const { refused, updates } = guardAndWatch(notebook);
    const [a, b] = notebook.cells;
    const markdown = [];

    a.setSource('merged');                          // merge, split
    a.source = 'x';
    a.updateSource(0, 4, 'typed');
    a.setMetadata('collapsed', true);
    a.setMetadata({ tags: ['other'] });
    a.metadata = {};
    a.deleteMetadata('tags');
    b.clearOutputs();                               // Clear outputs
    b.setOutputs([]);
    b.outputs = [OUTPUT, OUTPUT];
    b.updateOutputs(0, 1, []);
    b.appendStreamOutput(0, 'more');
    b.removeStreamOutput(0, 2);
    b.execution_count = null;                       // a run, Clear outputs
    b.setExecutionCount(7);
    b.executionState = 'running';
    notebook.setMetadata('kernelspec', { name: 'other' });
    notebook.updateMetadata({ language_info: { name: 'python' } });
    notebook.deleteMetadata('kernelspec');
    notebook.metadata = {};
    notebook.nbformat_minor = 4;
    notebook.fromJSON({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [] });
    markdown.push(...refused.splice(0));            // (checked below, by name)

    assert.equal(snapshot(notebook), before, 'the reader\'s notebook is unchanged');
    assert.equal(b.executionState, 'idle');
    assert.equal(updates.length, 0, 'no update for the server to refuse');
    assert.deepEqual(markdown.map(r => r.change), [
      'setSource', 'setSource', 'updateSource', 'setMetadata', 'setMetadata', 'setMetadata', 'deleteMetadata',
      'clearOutputs', 'setOutputs', 'setOutputs', 'updateOutputs', 'appendStreamOutput', 'removeStreamOutput',
      'setExecutionCount', 'setExecutionCount', 'executionState',
      'setMetadata', 'updateMetadata', 'deleteMetadata', 'setMetadata', 'nbformat_minor', 'fromJSON']);
    assert.deepEqual(markdown.slice(0, 7).map(r => r.cell), Array(7).fill(a));
    assert.deepEqual(markdown.slice(7, 16).map(r => r.cell), Array(9).fill(b));
    assert.deepEqual(markdown.slice(16).map(r => r.cell), Array(6).fill(null));
  });
});

test('markdown attachments and undo are refused too', async () => {
  await withNotebook(notebook => {
    notebook.addCell({ cell_type: 'markdown', id: 'm', source: '# m' });
    notebook.getCell(0).setSource('undoable');      // a local edit made before the notebook became read-only
    const before = snapshot(notebook);
    const { refused, updates } = guardAndWatch(notebook);
    const markdown = notebook.getCell(3);

    markdown.attachments = { 'a.png': { 'image/png': 'AAAA' } };
    assert.ok(notebook.canUndo());
    notebook.undo();
    notebook.getCell(0).undo();

    assert.equal(snapshot(notebook), before);
    assert.equal(updates.length, 0);
    assert.deepEqual(refused.map(r => r.change), ['setAttachments', 'undo', 'undo']);
  });
});

test('calls that would change nothing are dropped without a report', async () => {
  await withNotebook(notebook => {
    notebook.clearUndoHistory();
    const { refused, updates } = guardAndWatch(notebook);
    const [a, b] = notebook.cells;
    // What JupyterLab itself calls on opening a notebook or joining a kernel: values already there.
    notebook.setMetadata('kernelspec', { name: 'python3', display_name: 'Python 3' });
    notebook.nbformat = 4;
    a.setSource('cell a');
    a.updateSource(0, 0, '');
    a.setMetadata('tags', ['a']);
    a.deleteMetadata('absent');
    a.clearOutputs();
    a.execution_count = null;
    b.updateOutputs(0, 1, [OUTPUT]);
    b.executionState = 'idle';
    notebook.deleteCellRange(1, 1);
    notebook.insertCells(0, []);
    notebook.undo();
    assert.deepEqual(refused, []);
    assert.equal(updates.length, 0);
  });
});

test('a guarded notebook still shows collaborators\' changes, and guards the cells they insert', async () => {
  await withNotebook(notebook => {
    const { refused } = guardAndWatch(notebook);
    collaboratorChanges(notebook, writer => {
      writer.deleteCell(1);
      writer.moveCell(1, 0);
      writer.getCell(0).setSource('edited by a writer');
      writer.getCell(1).setMetadata('tags', ['writer']);
      writer.insertCell(2, { cell_type: 'code', id: 'new', source: 'n = 1' });
      writer.getCell(2).setOutputs([OUTPUT]);
      writer.getCell(2).execution_count = 3;
      writer.setMetadata('language_info', { name: 'python' });
    });
    assert.deepEqual(ids(notebook), ['c', 'a', 'new']);
    assert.equal(notebook.getCell(0).getSource(), 'edited by a writer');
    assert.deepEqual(notebook.getCell(1).getMetadata('tags'), ['writer']);
    assert.deepEqual(notebook.getCell(2).getOutputs(), [OUTPUT]);
    assert.equal(notebook.getCell(2).execution_count, 3);
    assert.deepEqual(notebook.getMetadata('language_info'), { name: 'python' });
    assert.deepEqual(refused, [], 'applying them refused nothing');

    // The cell the writer inserted is as read-only as the others.
    notebook.getCell(2).clearOutputs();
    notebook.getCell(2).setSource('mine');
    assert.deepEqual(notebook.getCell(2).getOutputs(), [OUTPUT]);
    assert.equal(notebook.getCell(2).getSource(), 'n = 1');
    assert.deepEqual(refused.map(r => [r.cell.getId(), r.change]), [['new', 'clearOutputs'], ['new', 'setSource']]);
  });
});

test('guarding is idempotent and per notebook', async () => {
  await withNotebook(async guarded => {
    let refused = 0;
    refuseLocalEdits(guarded, () => refused++);
    refuseLocalEdits(guarded, () => refused++);
    guarded.deleteCell(0);
    guarded.getCell(0).setSource('x');
    assert.equal(refused, 2, 'the second guard does not stack');
    assert.ok(refusesLocalEdits(guarded));
    await withNotebook(free => {
      assert.equal(refusesLocalEdits(free), false);
      free.deleteCell(0);
      free.getCell(0).setSource('changed');
      free.getCell(0).clearOutputs();
      free.setMetadata('kernelspec', { name: 'other' });
      assert.deepEqual(ids(free), ['b', 'c'], 'other notebooks are not guarded');
      assert.equal(free.getCell(0).getSource(), 'changed');
      assert.deepEqual(free.getCell(0).getOutputs(), []);
      assert.deepEqual(free.getMetadata('kernelspec'), { name: 'other' });
    });
  });
});
