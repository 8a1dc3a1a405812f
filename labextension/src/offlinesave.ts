/**
 * Saving a collaborative document while the server cannot be reached.
 *
 * Every way JupyterLab saves a document (the toolbar's Save button, File >
 * Save, Accel S, Save All, autosave) ends in its context's `save()`, which
 * first asks the server whether the file changed on disk: offline, that
 * request fails and JupyterLab opens a "File Save Error" dialog, which takes
 * the keyboard and says the work is in danger when it is not: every edit is
 * kept in this browser and reaches the room on reconnection. So, for our
 * documents, a save asked for while offline tells the user so (a
 * notification, and the status bar item) and happens, through the room, once
 * the connection is back. Online, JupyterLab's own save runs unchanged.
 */
import { Notification } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';

import { CrdtDocumentProvider } from './provider';

/** What the user is told when a save has to wait. */
export const SAVE_WAITS_MESSAGE =
  'The server cannot be reached: your edits are kept in this browser, ' +
  'and the document will be saved when the connection is back.';

/** Contexts whose save already goes through {@link saveOfflineThroughRoom}. */
const handled = new WeakSet<DocumentRegistry.Context>();

/**
 * Make `context.save()` offline-safe: while `isOffline()` holds, it shows a
 * notification and resolves once the room saved the document after the
 * connection returned (several saves asked for meanwhile share that one).
 * Idempotent per context.
 *
 * @param context - a document's context (shared by all its views).
 * @param provider - the provider keeping the document in sync with its room.
 * @param isOffline - whether the server cannot be reached now.
 */
export function saveOfflineThroughRoom(
  context: DocumentRegistry.Context,
  provider: CrdtDocumentProvider,
  isOffline: () => boolean
): void {
  if (handled.has(context)) {
    return;
  }
  handled.add(context);
  const onlineSave = context.save.bind(context);
  let waiting: Promise<void> | null = null;
  // An own property: this one context's save, for every caller, with JupyterLab's kept for online use.
  context.save = async (): Promise<void> => {
    if (!isOffline() || provider.isDisposed) {
      return onlineSave();
    }
    if (!waiting) {
      Notification.info(SAVE_WAITS_MESSAGE, { autoClose: 5000 });
      waiting = provider.save().finally(() => {
        waiting = null;
      });
    }
    return waiting;
  };
}
