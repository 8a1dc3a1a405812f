// Scenario 11: Jupyter Notebook 7 (the `notebook` package; no status bar). alice and bob open the
// notebook in Notebook 7's notebook page and co-edit; the sync status shows beside the menu bar. bob's
// connection is cut: his page says so (status item and a notification), he keeps typing and saves with
// Accel S (no error dialog); alice types too. The connection returns: both converge, bob is told he is
// back online, and the save happens. alice opens the history panel, which lists the changes.
import { setTimeout as delay } from 'node:timers/promises';
import { openWithCuttableBob } from '../lib/network.mjs';
import { TIMEOUT, waitConverged } from '../lib/user.mjs';

const PANEL = '#jp-crdt-history';

/** Where and how the sync status item shows on `user`'s page. */
function statusItem(user) {
  return user.page.evaluate(() => {
    const item = document.getElementById('jp-crdt-status');
    if (!item) {
      return null;
    }
    const box = item.getBoundingClientRect();
    return {
      state: item.dataset.state,
      text: item.innerText,
      visible: box.width > 0 && box.height > 0 && getComputedStyle(item).visibility !== 'hidden',
      statusBar: document.getElementById('jp-main-statusbar') !== null,
    };
  });
}

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const { alice, bob, bobLink } = await openWithCuttableBob(browser,
    { baseUrl, path: notebook, app: 'notebook', watchToasts: true });
  const urls = { alice: alice.page.url(), bob: bob.page.url() };
  // Our extension loads JupyterLab's toast library while the server answers (or no notification
  // could show during the outage): wait for it, so the cut below cannot come first.
  await bob.waitUntil(() => document.getElementById('react-toastify-container') !== null &&
    !document.body.classList.contains('jp-crdt-mod-warmingToasts'), null, 'the notifications to be ready');
  const shown = { alice: await statusItem(alice), bob: await statusItem(bob) };
  const typed = {
    live: { alice: ' + 1', bob: ' * 2' },
    offline: { alice: ' # alice while bob is away', bob: ' # bob offline' },
  };

  // Co-editing: each in a cell of their own, then both see both.
  await alice.clickLineEnd(0, 0);
  await alice.type(typed.live.alice);
  await bob.clickLineEnd(1, 0);
  await bob.type(typed.live.bob);
  const live = await waitConverged([alice, bob], cells =>
    cells[0].source.endsWith(typed.live.alice) && cells[1].source.endsWith(typed.live.bob), 'both live edits');

  // bob's connection is cut: his page says so, and he keeps working and saves.
  await bobLink.cut();
  await bob.waitStatus('offline');
  await bob.waitToast('warning', 'Offline');
  await bob.clickLineEnd(1, 0);
  await bob.type(typed.offline.bob);
  await bob.waitStatus('offline', 1);
  await bob.press('ControlOrMeta+s');
  await bob.waitUntil(() => {
    const item = document.getElementById('jp-crdt-status');
    return item.dataset.saveWaiting === 'true' || document.querySelector('.jp-Dialog') !== null;
  }, null, 'the status item to say the save waits (or a dialog)');
  const dialogsWhileCut = await bob.dialogs();
  const offline = await statusItem(bob);
  await alice.clickLineEnd(0, 0);
  await alice.type(typed.offline.alice);
  const whileCut = { alice: await alice.cells(), bob: await bob.cells() };

  await bobLink.restore();
  const cells = await waitConverged([alice, bob], cells =>
    cells[0].source.endsWith(typed.offline.alice) && cells[1].source.endsWith(typed.offline.bob),
  'everyone\'s edits after bob reconnected');
  await bob.waitStatus('connected', 0, 0);
  await bob.waitToast('success', 'Back online');
  await bob.waitUntil(() => document.getElementById('jp-crdt-status').dataset.saveWaiting === 'false',
    null, 'the waiting save to happen');
  const dialogs = await bob.dialogs();
  const toasts = await bob.toastLog();
  const statusLog = await bob.statusLog();

  // The history panel, in Notebook 7's right side panel.
  await alice.command('crdt:open-history');
  await alice.page.locator(PANEL).waitFor({ state: 'visible', timeout: TIMEOUT });
  const deadline = Date.now() + TIMEOUT;
  let authors = [];
  for (;;) {
    authors = await alice.page.locator(`${PANEL} .jp-crdt-change`).evaluateAll(
      nodes => [...new Set(nodes.map(node => node.dataset.author))].sort());
    if (authors.includes('alice') && authors.includes('bob')) {
      break;
    }
    if (Date.now() > deadline) {
      throw new Error(`the history panel never listed both users' changes: ${JSON.stringify(authors)}`);
    }
    // The server groups keystrokes into changes after a short idle gap: refresh until both show.
    await alice.page.locator(`${PANEL} .jp-crdt-refresh`).click();
    await delay(250);
  }

  await Promise.all([alice.close(), bob.close()]);
  return { urls, shown, typed, live, offline, dialogsWhileCut, whileCut, cells, dialogs, toasts,
    statusLog, historyAuthors: authors };
}
