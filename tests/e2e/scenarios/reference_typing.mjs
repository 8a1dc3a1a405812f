// Scenario 12: JupyterLab on jupyter-collaboration's stack (the reference), with jupyter-crdt installed
// beside it but not loaded. alice and bob open the same notebook in two windows and type, each in a
// cell of their own, then both in the same cell: both windows converge. Our extension's plugins stayed
// off (no sync status item) and no dialog opened.
import { User, waitConverged } from '../lib/user.mjs';

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const [alice, bob] = await Promise.all(
    ['alice', 'bob'].map(name => User.open(browser, { name, baseUrl, path: notebook })));
  const typed = { alice: ' + 1', bob: ' * 2', together: { alice: ' # alice', bob: ' # bob' } };

  await alice.clickLineEnd(0, 0);
  await alice.type(typed.alice);
  await bob.clickLineEnd(1, 0);
  await bob.type(typed.bob);
  const apart = await waitConverged([alice, bob], cells =>
    cells[0].source.endsWith(typed.alice) && cells[1].source.endsWith(typed.bob), 'both edits');

  // Both in the first cell (alice at the end of its line, bob at its start), at the same time.
  await bob.clickLineEnd(0, 0);
  await bob.press('Home');
  await alice.clickLineEnd(0, 0);
  await Promise.all([alice.type(typed.together.alice), bob.type(typed.together.bob)]);
  const together = await waitConverged([alice, bob], cells =>
    cells[0].source.includes(typed.together.alice) && cells[0].source.includes(typed.together.bob),
  'both typing in one cell');

  const ours = await Promise.all([alice, bob].map(user => user.page.evaluate(
    () => document.getElementById('jp-crdt-status') !== null)));
  const dialogs = [...await alice.dialogs(), ...await bob.dialogs()];
  await Promise.all([alice.close(), bob.close()]);
  return { typed, apart, together, ourStatusItem: ours, dialogs };
}
