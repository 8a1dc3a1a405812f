// Scenario 7: alice and bob each change the notebook; alice opens the history panel (our JupyterLab
// extension), which lists both users' changes; she restores the version after her own last change,
// and both users' notebooks show it.
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { TIMEOUT, User, waitConverged } from '../lib/user.mjs';

const PANEL = '#jp-crdt-history';

/** The panel's change rows, newest first: [{seq, author, text}]. */
function rows(user) {
  return user.page.locator(`${PANEL} .jp-crdt-change`).evaluateAll(nodes => nodes.map(node => ({
    seq: Number(node.dataset.seq), author: node.dataset.author, text: node.innerText,
  })));
}

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const [alice, bob] = await Promise.all(
    ['alice', 'bob'].map(name => User.open(browser, { name, baseUrl, path: notebook })));
  const before = (await alice.cells())[0].source;
  const typed = { alice: ' + 1', bob: ' + 2' };

  await alice.clickLineEnd(0, 0);
  await alice.type(typed.alice);
  await waitConverged([alice, bob], cells => cells[0].source === before + typed.alice, 'alice\'s change');
  await bob.clickLineEnd(0, 0);
  await bob.type(typed.bob);
  await waitConverged([alice, bob], cells => cells[0].source === before + typed.alice + typed.bob,
    'bob\'s change');

  await alice.command('crdt:open-history');
  await alice.page.locator(PANEL).waitFor({ state: 'visible', timeout: TIMEOUT });
  // The server groups keystrokes into changes after a short idle gap: refresh until both authors show.
  const deadline = Date.now() + TIMEOUT;
  let listed = [];
  for (;;) {
    listed = await rows(alice);
    const authors = new Set(listed.map(row => row.author));
    if (authors.has('alice') && authors.has('bob')) {
      break;
    }
    if (Date.now() > deadline) {
      throw new Error(`the history panel never listed both users' changes: ${JSON.stringify(listed)}`);
    }
    await alice.page.locator(`${PANEL} .jp-crdt-refresh`).click();
    await delay(250);
  }

  // Restore the version after alice's last change (before bob's).
  const target = listed.find(row => row.author === 'alice');
  await alice.page.locator(`${PANEL} .jp-crdt-change[data-seq="${target.seq}"]`).click();
  const version = alice.page.locator(`${PANEL} .jp-crdt-version[data-seq="${target.seq}"]`);
  await version.waitFor({ timeout: TIMEOUT });
  const versionCells = await version.locator('.jp-crdt-version-cell').allInnerTexts();
  if (config.screenshots) {
    await alice.screenshot(path.join(config.screenshots, 'e2e-history.png'));
  }
  await alice.page.locator(`${PANEL} .jp-crdt-restore[data-seq="${target.seq}"]`).click();
  const restored = await waitConverged([alice, bob], cells => cells[0].source === before + typed.alice,
    'the restored version');
  await Promise.all([alice.close(), bob.close()]);
  return { before, typed, listed, target, versionCells, restored };
}
