// Scenario 9: a reader (a user who may only read the notebook) tries to change it, as a user would, on
// the second cell (which has an output): in command mode `dd` (delete), Escape then `x` (cut),
// Ctrl+Shift+Down (move down), `v` (paste the cut cell), Shift+M (merge with the cell below), `m` (make
// it markdown); Clear Cell Output and Clear All Outputs (what the menus run); then, in the cell's editor,
// Ctrl+Shift+- (split at the cursor). Every one is refused in the reader's own view, outputs included
// (the server would refuse the change anyway; a view that applied it would differ from everyone else's
// until a reload). Then alice, a writer, types into that same cell: the reader sees it, in the same
// three cells, with the output still there.
import { TIMEOUT, User, waitConverged, waitFor } from '../lib/user.mjs';

/** How long a view may take to show the notebook again after a refusal (outputs render asynchronously). */
const SETTLE_MS = 15000;

/**
 * What the reader sees of each cell: its type and source, what its editor shows, its outputs (in the
 * cell model that the view renders) and the text of the outputs and prompt on screen. Runs in the page.
 */
function readerView(path) {
  const panel = window.e2e.panel(path);
  return panel.content.widgets.map(cell => {
    const model = cell.model;
    const outputArea = cell.node.querySelector('.jp-OutputArea');
    return {
      id: model.sharedModel.getId(),
      type: model.type,
      source: model.sharedModel.getSource(),
      editor: cell.editor && cell.editor.editor ? cell.editor.editor.state.doc.toString() : null,
      outputs: model.type === 'code' ? model.outputs.toJSON() : null,
      shownOutputs: outputArea ? outputArea.textContent : '',
      prompt: (cell.node.querySelector('.jp-InputPrompt') || {}).textContent || '',
    };
  });
}

const refusals = user => user.page.evaluate(path => Number(window.e2e.panel(path).node.dataset.refusedEdits), user.path);
const view = user => user.page.evaluate(path => window.readerView(path), user.path);

/**
 * Do `act` (keys, a command), then wait until the reader's notebook refused one more change (our
 * extension counts them in a DOM hook) or its cells changed after all, then until its view shows
 * `expected` again (or SETTLE_MS passed): returns {refused (how many more), view}; the test tells.
 */
async function attempt(user, act, what, expected) {
  const before = { refused: await refusals(user), cells: await user.cells() };
  await act();
  await user.waitUntil(([path, before]) => {
    const panel = window.e2e.panel(path);
    return Number(panel.node.dataset.refusedEdits || 0) > before.refused ||
      JSON.stringify(window.e2e.cells(path)) !== JSON.stringify(before.cells);
  }, [user.path, before], `the read-only notebook to refuse ${what}`);
  let shown = null;
  try {
    shown = await waitFor(() => view(user), v => JSON.stringify(v) === JSON.stringify(expected), what, SETTLE_MS);
  } catch {
    shown = await view(user); // the test shows how it differs
  }
  return { refused: (await refusals(user)) - before.refused, view: shown };
}

const pressing = (user, keys) => async () => {
  for (const key of keys) {
    await user.press(key);
  }
};

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  // alice's kernel first: carol's JupyterLab then joins its session. (The test server lets a reader
  // start no kernel: a reader first to open the notebook gets JupyterLab's "Error Starting Kernel".)
  const alice = await User.open(browser, { name: 'alice', baseUrl, path: notebook });
  await alice.waitKernel();
  const reader = await User.open(browser, { name: 'carol', token: 'reader-carol', baseUrl, path: notebook });
  await reader.waitUntil(path => window.e2e.panel(path).hasClass('jp-crdt-readOnly'), reader.path,
    'the notebook to open read-only');
  await reader.page.evaluate(`window.readerView = ${readerView.toString()}`);
  const before = await waitConverged([alice, reader], cells => cells.length === 3, 'the notebook');
  // The output is on screen before anything is tried.
  const initial = await waitFor(() => view(reader), v => v[1].shownOutputs.includes('hello'), 'the output', TIMEOUT);
  const refusedOnOpening = await refusals(reader);

  // Click the second cell's prompt (selects it) and leave any editor: command mode, as for `dd`.
  const selectSecond = async () => {
    await reader.cell(1).locator('.jp-InputPrompt').click();
    await reader.press('Escape');
  };
  const tries = {};
  const commandMode = [
    ['dd', ['d', 'd']], ['cut', ['Escape', 'x']], ['move', ['Control+Shift+ArrowDown']], ['paste', ['v']],
    ['merge', ['Shift+M']], ['markdown', ['m']],
  ];
  for (const [name, keys] of commandMode) {
    await selectSecond();
    tries[name] = await attempt(reader, pressing(reader, keys), keys.join(' '), initial);
  }
  await selectSecond();
  tries.clearOutput = await attempt(reader, () => reader.command('notebook:clear-cell-output'),
    'Clear Cell Output', initial);
  tries.clearAll = await attempt(reader, () => reader.command('notebook:clear-all-cell-outputs'),
    'Clear All Outputs', initial);
  // Split: the cursor after `print` in the cell's (read-only) editor, then Ctrl+Shift+-.
  await reader.clickLineEnd(1, 0);
  tries.split = await attempt(reader, pressing(reader, ['Home', ...Array(5).fill('ArrowRight'), 'Control+Shift+Minus']),
    'Ctrl+Shift+-', initial);
  await reader.press('Escape');
  const dialogs = await reader.dialogs();

  const typed = ' # alice edits the cell carol tried to change';
  await alice.clickLineEnd(1, 0);
  await alice.type(typed);
  const cells = await waitConverged([alice, reader], c => c[1].source.endsWith(typed), 'alice\'s edit');
  const final = await waitFor(() => view(reader), v => v[1].editor === v[1].source, 'carol\'s editor to show it', TIMEOUT);
  await Promise.all([alice.close(), reader.close()]);
  return { before, initial, refusedOnOpening, tries, dialogs, typed, cells, final };
}
