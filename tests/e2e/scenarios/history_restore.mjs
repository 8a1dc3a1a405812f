// Scenario 7: alice and bob each change the notebook; alice opens the history panel (our JupyterLab
// extension), which lists both users' changes; she restores the version after her own change, before
// bob's, and both users' notebooks show it. A restore the server refuses shows an error in the panel.
//
// Not every change of a user is typing: JupyterLab writes the notebook's kernelspec and language_info
// metadata when the user's kernel starts, as that user's change. On a busy machine that can land between
// bob's keystrokes, so "alice's newest change" may be one made after bob's first: the restore target is
// found by position (alice's newest change older than bob's first edit of the cell), not by author alone.
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { TIMEOUT, User, waitConverged, waitFor } from '../lib/user.mjs';

const PANEL = '#jp-crdt-history';

/** Whether a change row edited cell sources (not only metadata or bookkeeping). */
function editsSource(row) {
  return / source /.test(row.text);
}

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
  // Kernels started first: their metadata writes then mostly land before the typing (see above).
  await Promise.all([alice.waitKernel(), bob.waitKernel()]);
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
  // The server groups keystrokes into changes after a short idle gap: refresh until both users' edits
  // of the cell show.
  const deadline = Date.now() + TIMEOUT;
  let listed = [];
  for (;;) {
    listed = await rows(alice);
    const editors = new Set(listed.filter(editsSource).map(row => row.author));
    if (editors.has('alice') && editors.has('bob')) {
      break;
    }
    if (Date.now() > deadline) {
      throw new Error(`the history panel never listed both users' edits: ${JSON.stringify(listed)}`);
    }
    await alice.page.locator(`${PANEL} .jp-crdt-refresh`).click();
    await delay(250);
  }

  // The version after alice's change, before bob's: her newest change older than bob's first edit.
  const bobsFirst = listed.findLastIndex(row => row.author === 'bob' && editsSource(row));
  const target = listed.slice(bobsFirst + 1).find(row => row.author === 'alice');
  await alice.page.locator(`${PANEL} .jp-crdt-change[data-seq="${target.seq}"]`).click();
  const version = alice.page.locator(`${PANEL} .jp-crdt-version[data-seq="${target.seq}"]`);
  await version.waitFor({ timeout: TIMEOUT });
  const versionCells = await version.locator('.jp-crdt-version-cell').allInnerTexts();
  if (config.screenshots) {
    await alice.screenshot(path.join(config.screenshots, 'e2e-history.png'));
  }
  const restore = alice.page.locator(`${PANEL} .jp-crdt-restore[data-seq="${target.seq}"]`);
  const message = alice.page.locator(`${PANEL} .jp-crdt-History-message`);

  // A restore that fails says so in the panel (here the server's answer is replaced by a 500).
  const url = '**/api/crdt/restore/**';
  await alice.page.route(url, route => route.fulfill(
    { status: 500, contentType: 'application/json', body: '{"message": "the disk is on fire"}' }));
  await restore.click();
  const failedMessage = await waitFor(() => message.innerText(), text => text.includes('failed'),
    'the failed restore\'s message');
  const failedShown = await message.evaluate(node => node.classList.contains('jp-mod-error') && !node.hidden);
  await alice.page.unroute(url);

  await restore.click();
  await waitFor(() => message.innerText(), text => !text.startsWith('Restoring'), 'the restore\'s message');
  const restoredMessage = await message.innerText();
  let restored;
  try {
    restored = await waitConverged([alice, bob], cells => cells[0].source === before + typed.alice,
      'the restored version');
  } catch (error) {
    throw new Error(`${error.message}\npanel message: ${JSON.stringify(await message.innerText())}\n` +
      `listed: ${JSON.stringify(listed)}\nnow listed: ${JSON.stringify(await rows(alice))}`);
  }
  // Restoring it again changes nothing, and the panel says so rather than seeming to do nothing.
  await restore.click();
  const againMessage = await waitFor(() => message.innerText(),
    text => text.startsWith('Nothing to restore'), 'the message of a restore that changed nothing');
  await Promise.all([alice.close(), bob.close()]);
  return {
    before, typed, listed, target, versionCells, failedMessage, failedShown, restoredMessage, restored,
    againMessage
  };
}
