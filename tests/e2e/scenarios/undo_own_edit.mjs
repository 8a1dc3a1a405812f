// Scenario 8: alice and bob type into the same cell at the same time (alice on the first line, bob on
// the second); then alice presses Ctrl+Z. Her typing goes, bob's stays, on both pages.
import { User, waitConverged } from '../lib/user.mjs';

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const [alice, bob] = await Promise.all(
    ['alice', 'bob'].map(name => User.open(browser, { name, baseUrl, path: notebook })));
  const before = (await alice.cells())[0].source;
  const typed = { alice: ' alpha', bob: ' beta gamma delta epsilon zeta eta theta iota kappa lambda' };

  await alice.clickLineEnd(0, 0);
  await bob.clickLineEnd(0, 1);
  // bob starts first and finishes last: his edit is concurrent with alice's, before and after it.
  const bobTyping = bob.type(typed.bob);
  await alice.type(typed.alice);
  await bobTyping;
  const all = before.length + typed.alice.length + typed.bob.length;
  const typedCells = await waitConverged([alice, bob], cells => cells[0].source.length === all, 'both edits');

  await alice.press('Control+z');
  const undoneLength = before.length + typed.bob.length;
  const undoneCells = await waitConverged([alice, bob], cells => cells[0].source.length <= undoneLength,
    'alice\'s undo');
  const editors = { alice: await alice.editorTexts(), bob: await bob.editorTexts() };
  await Promise.all([alice.close(), bob.close()]);
  return { before, typed, typedCells, undoneCells, editors };
}
