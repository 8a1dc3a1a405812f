// Scenario 3: bob's connection is cut (his websockets closed, requests refused); alice and bob both
// edit the shared first cell (alice its first line, bob its second) and each a cell of their own
// (alice the second cell, bob the third); bob's connection returns. Every edit is there exactly once
// on both pages; bob's status bar said offline with his pending edits counted, then synced.
import { openWithCuttableBob } from '../lib/network.mjs';
import { waitConverged } from '../lib/user.mjs';

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const { alice, bob, bobLink } = await openWithCuttableBob(browser, { baseUrl, path: notebook });
  const typed = {
    alice: { shared: ' alice offline edit', own: ' alice own cell edit' },
    bob: { shared: ' bob offline edit', own: ' bob own cell edit' },
  };

  await bobLink.cut();
  await bob.waitStatus('offline');
  await alice.clickLineEnd(0, 0);
  await alice.type(typed.alice.shared);
  await alice.clickLineEnd(1, 0);
  await alice.type(typed.alice.own);
  await bob.clickLineEnd(0, 1);
  await bob.type(typed.bob.shared);
  await bob.clickLineEnd(2, 0);
  await bob.type(typed.bob.own);
  await bob.waitStatus('offline', 1);
  const whileCut = { alice: await alice.cells(), bob: await bob.cells() };

  await bobLink.restore();
  const all = Object.values(typed).flatMap(edits => Object.values(edits));
  const cells = await waitConverged([alice, bob], cells => {
    const text = cells.map(cell => cell.source).join('\n');
    return all.every(edit => text.includes(edit));
  }, 'everyone\'s edits after bob reconnected');
  await bob.waitStatus('connected', 0, 0);
  const statusLog = await bob.statusLog();
  await Promise.all([alice.close(), bob.close()]);
  return { typed, whileCut, cells, statusLog };
}
