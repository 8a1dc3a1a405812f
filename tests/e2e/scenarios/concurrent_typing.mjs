// Scenario 1: alice and bob type into the same cell at the same time, hundreds of keystrokes each,
// interleaved (both keyboards run concurrently). alice types under the line "# alice", bob under "# bob".
import path from 'node:path';
import { typedBlock } from '../lib/typing.mjs';
import { User, waitConverged } from '../lib/user.mjs';

export async function run({ browser, config }) {
  const { baseUrl, path: notebook, lines = 12 } = config;
  const [alice, bob] = await Promise.all(
    ['alice', 'bob'].map(name => User.open(browser, { name, baseUrl, path: notebook })));
  const typed = { alice: typedBlock('alice', lines), bob: typedBlock('bob', lines) };
  const before = (await alice.cells())[0].source;

  await alice.clickLineEnd(0, 0);
  await bob.clickLineEnd(0, 1);
  await Promise.all([alice.type(typed.alice), bob.type(typed.bob)]);

  // Every keystroke has reached both pages once the lengths add up (what the text is, pytest judges).
  const length = before.length + typed.alice.length + typed.bob.length;
  const cells = await waitConverged([alice, bob], cells => cells[0].source.length === length,
    'both users\' keystrokes');
  const editors = { alice: await alice.editorTexts(), bob: await bob.editorTexts() };
  if (config.screenshots) {
    await alice.screenshot(path.join(config.screenshots, 'e2e-concurrent-typing.png'));
  }
  await Promise.all([alice.close(), bob.close()]);
  return { before, typed, cells, editors };
}
