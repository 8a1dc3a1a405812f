// Scenario 9: a reader (a user who may only read the notebook) tries the notebook's structural commands
// from the keyboard, as a user would in command mode on the second cell: `dd` (delete), Escape then `x`
// (cut), Ctrl+Shift+Down (move down) and `v` (paste the cut cell). Every one is refused in the reader's
// own view (the server would refuse the change anyway; a view that applied it would differ from everyone
// else's until a reload). Then alice, a writer, types into that same cell: the reader sees it, in the
// same three cells.
import { User, waitConverged } from '../lib/user.mjs';

/**
 * Press `keys` (one after the other), then wait until the reader's notebook refused one more change
 * (our extension counts them in a DOM hook) or its cells changed after all: the test tells which.
 */
async function press(user, keys) {
  const before = await user.page.evaluate(path => {
    const panel = window.e2e.panel(path);
    return { refused: Number(panel.node.dataset.refusedEdits || 0), cells: window.e2e.cells(path) };
  }, user.path);
  for (const key of keys) {
    await user.press(key);
  }
  await user.waitUntil(([path, before]) => {
    const panel = window.e2e.panel(path);
    return Number(panel.node.dataset.refusedEdits || 0) > before.refused ||
      JSON.stringify(window.e2e.cells(path)) !== JSON.stringify(before.cells);
  }, [user.path, before], `the read-only notebook to refuse ${keys.join(' ')}`);
}

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  // alice's kernel first: carol's JupyterLab then joins its session. (The test server lets a reader
  // start no kernel: a reader first to open the notebook gets JupyterLab's "Error Starting Kernel".)
  const alice = await User.open(browser, { name: 'alice', baseUrl, path: notebook });
  await alice.waitKernel();
  const reader = await User.open(browser, { name: 'carol', token: 'reader-carol', baseUrl, path: notebook });
  await reader.waitUntil(path => window.e2e.panel(path).hasClass('jp-crdt-readOnly'), reader.path,
    'the notebook to open read-only');
  const before = await waitConverged([alice, reader], cells => cells.length === 3, 'the notebook');

  // Click the second cell's prompt (selects it) and leave any editor: command mode, as for `dd`.
  await reader.cell(1).locator('.jp-InputPrompt').click();
  await reader.press('Escape');
  await press(reader, ['d', 'd']);
  const afterDelete = await reader.cells();
  await press(reader, ['Escape', 'x']);
  const afterCut = await reader.cells();
  await press(reader, ['Control+Shift+ArrowDown']);
  await press(reader, ['v']);
  const afterAll = await reader.cells();
  const dialogs = await reader.dialogs();

  const typed = ' # alice edits the cell carol tried to delete';
  await alice.clickLineEnd(1, 0);
  await alice.type(typed);
  const cells = await waitConverged([alice, reader], c => c[1].source.endsWith(typed), 'alice\'s edit');
  await Promise.all([alice.close(), reader.close()]);
  return { before, afterDelete, afterCut, afterAll, dialogs, typed, cells };
}
