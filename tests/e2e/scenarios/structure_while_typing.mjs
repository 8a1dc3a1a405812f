// Scenario 2: alice adds, moves and deletes cells (JupyterLab's notebook commands, as its toolbar and
// shortcuts run them) while bob types in a cell; then both reload the notebook.
// The notebook starts as cells zero..four; bob types in cell "one". alice never moves or deletes that
// cell (JupyterLab moves a cell by deleting it and inserting a copy, so typing into a cell being moved
// is lost in any Yjs-based Jupyter), nor moves one above it (see focus_after_remote_move.mjs).
import { typedBlock } from '../lib/typing.mjs';
import { User, waitConverged } from '../lib/user.mjs';

async function select(user, id) {
  const index = await user.indexOfCell(id);
  if (index < 0) {
    throw new Error(`${user.name}: no cell ${id} to select`);
  }
  await user.selectCell(index);
}

/** Add a cell below (or above) cell `id` and type `text` into it; returns the new cell's id. */
async function addCell(user, id, where, text) {
  await select(user, id);
  await user.command(where === 'above' ? 'notebook:insert-cell-above' : 'notebook:insert-cell-below');
  await user.command('notebook:enter-edit-mode');
  await user.type(text);
  await user.command('notebook:enter-command-mode');
  const cells = await user.cells();
  const index = await user.page.evaluate(path => window.e2e.panel(path).content.activeCellIndex, user.path);
  return cells[index].id;
}

async function moveCell(user, id, direction, times = 1) {
  for (let i = 0; i < times; i++) {
    await select(user, id);
    await user.command(direction === 'up' ? 'notebook:move-cell-up' : 'notebook:move-cell-down');
  }
}

async function deleteCell(user, id) {
  await select(user, id);
  await user.command('notebook:delete-cell');
}

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const [alice, bob] = await Promise.all(
    ['alice', 'bob'].map(name => User.open(browser, { name, baseUrl, path: notebook })));
  const typed = typedBlock('bob', 8);

  await bob.clickLineEnd(await bob.indexOfCell('one'), 0);
  const added = {};
  const aliceEdits = async () => {
    added.below = await addCell(alice, 'zero', 'below', 'alice added this below zero');
    await moveCell(alice, 'three', 'up');
    await deleteCell(alice, 'four');
    added.above = await addCell(alice, 'zero', 'above', 'alice added this above zero');
    await moveCell(alice, 'three', 'down');
    added.last = await addCell(alice, 'two', 'below', 'alice added this at the end');
    await moveCell(alice, added.last, 'up');
    await deleteCell(alice, 'two');
  };
  await Promise.all([bob.type(typed), aliceEdits()]);

  const settled = cells => cells.some(cell => cell.id === 'one' && cell.source.endsWith(typed)) &&
    !cells.some(cell => cell.id === 'two');
  const cells = await waitConverged([alice, bob], settled, 'alice\'s structure and bob\'s text');
  await Promise.all([alice.reload(), bob.reload()]);
  const reloaded = { alice: await alice.cells(), bob: await bob.cells() };
  await Promise.all([alice.close(), bob.close()]);
  return { typed, added, cells, reloaded };
}
