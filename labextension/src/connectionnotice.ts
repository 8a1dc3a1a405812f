/**
 * Saying that the server is lost, and back, through JupyterLab's
 * notifications: for applications without a status bar (Jupyter Notebook 7),
 * where the status item alone would be easy to miss and JupyterLab's
 * "Server Connection Error" dialog is replaced by ours.
 *
 * One notification per outage: "offline" stays until the connection is back,
 * then the same notification says so and closes by itself. A connection that
 * flaps while offline never stacks notifications, and an outage shorter than
 * a grace period (a document's socket opening, a brief network hiccup that
 * y-websocket bridges by itself) is not worth interrupting anyone for.
 */
import { Notification } from '@jupyterlab/apputils';
import { PromiseDelegate } from '@lumino/coreutils';

import { ICrdtSync } from './tokens';

/** What the user is told while the server cannot be reached. */
export const OFFLINE_MESSAGE =
  'Offline: the server cannot be reached. Keep working: your edits are kept in this browser ' +
  'and merged when the connection is back.';
/** What the user is told once it is back. */
export const ONLINE_MESSAGE = 'Back online: your edits are synced with the server.';
/** How long the "back online" note stays. */
const ONLINE_AUTOCLOSE_MS = 5000;
/** How long an outage lasts before it is announced. */
const OFFLINE_GRACE_MS = 2000;

/** Whether `sync` says the server cannot be reached, now, for any open document. */
export function isOffline(sync: ICrdtSync): boolean {
  return !sync.serverReachable || sync.providers.some(p => p.status.state === 'offline');
}

/**
 * Follow `sync` and show one notification per outage. Returns a function that
 * stops following.
 */
export function noticeConnection(sync: ICrdtSync): () => void {
  let id: string | null = null;
  let grace: ReturnType<typeof setTimeout> | null = null;
  const announce = () => {
    grace = null;
    if (id === null && isOffline(sync)) {
      id = Notification.warning(OFFLINE_MESSAGE, { autoClose: false });
    }
  };
  const onChanged = () => {
    const offline = isOffline(sync);
    if (offline && id === null && grace === null) {
      grace = setTimeout(announce, OFFLINE_GRACE_MS);
    } else if (!offline) {
      if (grace !== null) {
        clearTimeout(grace);
        grace = null;
      }
      if (id !== null) {
        // The same notification turns into the good news (shown again if it was dismissed).
        const updated = Notification.update({
          id,
          message: ONLINE_MESSAGE,
          type: 'success',
          autoClose: ONLINE_AUTOCLOSE_MS
        });
        if (!updated) {
          Notification.success(ONLINE_MESSAGE, { autoClose: ONLINE_AUTOCLOSE_MS });
        }
        id = null;
      }
    }
  };
  sync.changed.connect(onChanged);
  onChanged();
  return () => {
    sync.changed.disconnect(onChanged);
    if (grace !== null) {
      clearTimeout(grace);
    }
  };
}

/** The element JupyterLab's notification plugin adds once its toast library is loaded. */
const TOAST_ROOT_ID = 'react-toastify-container';
/** On `<body>` while the toasts are warmed up: hides the toast container (style/base.css). */
export const WARMING_CLASS = 'jp-crdt-mod-warmingToasts';
/** How long the warm-up waits for the toast library at most. */
const WARM_UP_TIMEOUT_MS = 60000;
/** How long the container stays hidden after the warm-up note is dismissed (its exit animation). */
const WARM_UP_EXIT_MS = 1500;

/**
 * Load JupyterLab's toast library now, while the server answers. The notification plugin loads it
 * from the server on the first notification shown; during an outage that load fails, and that page
 * then shows no toast ever again (the plugin waits for the failed load forever). So one notification
 * is emitted while online and dismissed as soon as the library is there, with the toast container
 * hidden meanwhile: nothing shows but, for an instant, the notification count.
 *
 * Resolves true once the library is loaded (false past the deadline, or in do-not-disturb mode,
 * where the plugin loads nothing).
 */
export function warmUpToasts(timeoutMs = WARM_UP_TIMEOUT_MS): Promise<boolean> {
  // Once per page, whichever plugin asks first.
  warming ??= warmUp(timeoutMs);
  return warming;
}

let warming: Promise<boolean> | null = null;

async function warmUp(timeoutMs: number): Promise<boolean> {
  if (document.getElementById(TOAST_ROOT_ID)) {
    return true;
  }
  const loaded = new PromiseDelegate<boolean>();
  const observer = new MutationObserver(() => {
    if (document.getElementById(TOAST_ROOT_ID)) {
      loaded.resolve(true);
    }
  });
  observer.observe(document.body, { childList: true });
  const deadline = setTimeout(() => loaded.resolve(false), timeoutMs);
  document.body.classList.add(WARMING_CLASS);
  const id = Notification.emit('jupyter-crdt: preparing notifications', 'default', { autoClose: false });
  try {
    return await loaded.promise;
  } finally {
    observer.disconnect();
    clearTimeout(deadline);
    // A macrotask after the container appeared: the plugin has queued or shown the toast by now,
    // so dismissing it removes it (dismissed earlier, it could still be shown afterwards).
    Notification.dismiss(id);
    setTimeout(() => document.body.classList.remove(WARMING_CLASS), WARM_UP_EXIT_MS);
  }
}
