// Scenario 10: bob's connection is cut; he edits a cell and saves the way people do: the notebook
// toolbar's Save button, File > Save Notebook, then Accel S. JupyterLab alone answers each with a modal
// "File Save Error" dialog (it cannot ask the server about the file); with our extension, bob's status
// bar says the save waits for the connection (and a notification), no dialog opens, and once the
// connection is back the notebook is saved with his offline edit.
import { openWithCuttableBob } from '../lib/network.mjs';
import { waitConverged } from '../lib/user.mjs';

/** Wait until the status item says a save is (or is no longer) waiting for the connection, or a
 * dialog opened instead (the test then shows it). */
function waitSaveWaiting(user, waiting) {
  return user.waitUntil(waiting => {
    const item = document.getElementById('jp-crdt-status');
    return (!!item && item.dataset.saveWaiting === String(waiting)) ||
      document.querySelector('.jp-Dialog') !== null;
  }, waiting, `the status bar to say a save is ${waiting ? '' : 'no longer '}waiting`);
}

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const { alice, bob, bobLink } = await openWithCuttableBob(browser,
    { baseUrl, path: notebook, watchToasts: true });
  // Our extension loads JupyterLab's toast library while the server answers (a page that first needs
  // it during the outage could show no notification): wait for it, so the cut below cannot come first.
  await bob.waitUntil(() => document.getElementById('react-toastify-container') !== null &&
    !document.body.classList.contains('jp-crdt-mod-warmingToasts'), null, 'the notifications to be ready');
  const typed = ' # bob edited this offline';

  await bobLink.cut();
  await bob.waitStatus('offline');
  await bob.clickLineEnd(0, 0);
  await bob.type(typed);
  await bob.waitStatus('offline', 1);

  // The notebook toolbar's Save button.
  await bob.page.locator(`#${bob.panelId} .jp-Toolbar [data-jp-item-name="save"]`).click();
  await waitSaveWaiting(bob, true);
  const statusWhileWaiting = await bob.page.evaluate(
    () => document.getElementById('jp-crdt-status').innerText);
  const dialogsAfterToolbar = await bob.dialogs();
  await bob.waitToast('info', 'saved when the connection is back');

  // File > Save Notebook (a modal dialog left by the toolbar's save would stop these clicks).
  await bob.page.locator('.lm-MenuBar-item', { hasText: 'File' }).click();
  await bob.page.locator('.lm-Menu-item[data-command="docmanager:save"]').click();
  const dialogsAfterMenu = await bob.dialogs();
  // And the keyboard: Accel S while typing.
  await bob.clickLineEnd(0, 0);
  await bob.press('ControlOrMeta+s');
  const whileCut = await alice.cells();

  await bobLink.restore();
  const cells = await waitConverged([alice, bob], c => c[0].source.endsWith(typed), 'bob\'s offline edit');
  await waitSaveWaiting(bob, false);
  await bob.waitStatus('connected', 0, 0);
  const dialogs = await bob.dialogs();
  const toasts = await bob.toastLog();
  await Promise.all([alice.close(), bob.close()]);
  return { typed, toasts, statusWhileWaiting, dialogsAfterToolbar, dialogsAfterMenu, dialogs, whileCut, cells };
}
