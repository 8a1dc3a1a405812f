// Scenario 4: bob edits while cut off, closes the tab, his connection returns, and he opens the
// notebook again: his edits come back from the browser's local store (IndexedDB, our extension's
// provider) and reach alice, once. alice edits another cell meanwhile.
import { openWithCuttableBob } from '../lib/network.mjs';
import { waitConverged, waitFor } from '../lib/user.mjs';

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const { alice, bob, bobLink } = await openWithCuttableBob(browser, { baseUrl, path: notebook });
  const typed = { alice: ' alice typed this meanwhile', bob: ' bob typed this offline' };

  await bobLink.cut();
  await bob.waitStatus('offline');
  await bob.clickLineEnd(0, 0);
  await bob.type(typed.bob);
  // Close the tab once the browser has stored every edit the status bar counts (a person takes longer
  // than that; closing mid-write would test the browser's IndexedDB, not us).
  await bob.waitUntil(([path, text]) => window.e2e.cells(path)[0].source.endsWith(text), [notebook, typed.bob],
    'bob\'s typing in his own page');
  await bob.waitStatus('offline', 1);
  const pending = await bob.page.evaluate(() => Number(document.getElementById('jp-crdt-status').dataset.pending));
  const stored = await waitFor(() => bob.page.evaluate(() => window.e2e.storedPendingEdits()),
    count => count >= pending, `bob's ${pending} pending edits in IndexedDB`);
  await bob.page.close();
  await alice.clickLineEnd(1, 0);
  await alice.type(typed.alice);
  const aliceBeforeBobReturns = await alice.cells();

  await bobLink.restore();
  await bob.goto();
  const cells = await waitConverged([alice, bob], cells => {
    const text = cells.map(cell => cell.source).join('\n');
    return text.includes(typed.alice) && text.includes(typed.bob);
  }, 'bob\'s offline edits after he reopened the notebook');
  await bob.waitStatus('connected', 0, 0);
  const settled = await waitConverged([alice, bob]);
  await Promise.all([alice.close(), bob.close()]);
  return { typed, stored, aliceBeforeBobReturns, cells, settled };
}
