// Scenario 6: alice edits the first cell, bob the second; each sees the other's cursor, labelled with
// the other's name, in the cell the other is editing.
import path from 'node:path';
import { User, waitConverged } from '../lib/user.mjs';

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const [alice, bob] = await Promise.all(
    ['alice', 'bob'].map(name => User.open(browser, { name, baseUrl, path: notebook })));
  const before = await alice.cells();
  const typed = { alice: ' + 10', bob: ' * 2' };
  await alice.clickLineEnd(0, 1);
  await alice.type(typed.alice);
  await bob.clickLineEnd(1, 0);
  await bob.type(typed.bob);
  const length = cells => cells.reduce((n, cell) => n + cell.source.length, 0);
  const all = length(before) + typed.alice.length + typed.bob.length;
  const cells = await waitConverged([alice, bob], cells => length(cells) === all, 'both users\' edits');

  // Wait until each page draws the other's named cursor somewhere (where, pytest judges).
  const seesNamed = ([path, name]) => (window.e2e.remoteCursors(path) || []).some(c => c.name === name);
  await alice.waitUntil(seesNamed, [notebook, 'bob'], "bob's named cursor on alice's page");
  await bob.waitUntil(seesNamed, [notebook, 'alice'], "alice's named cursor on bob's page");
  const remoteCursors = ({ path }) => window.e2e.remoteCursors(path);
  const seen = {
    alice: await alice.page.evaluate(remoteCursors, { path: notebook }),
    bob: await bob.page.evaluate(remoteCursors, { path: notebook }),
  };
  if (config.screenshots) {
    await alice.screenshot(path.join(config.screenshots, 'e2e-remote-cursors.png'));
  }
  await Promise.all([alice.close(), bob.close()]);
  return { seen, cells };
}
