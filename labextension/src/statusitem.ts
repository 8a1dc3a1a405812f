/**
 * The status bar item: is the current document in sync with the server, and
 * how many of our edits are not yet durable there.
 *
 * DOM hook (for users' scripts and the end-to-end tests): the item's node has
 * id `jp-crdt-status`, `data-state` = connected | offline | syncing and
 * `data-pending` = the number of unacknowledged edits, `data-save-waiting` =
 * true while a save asked for offline waits for the connection.
 */
import { Widget } from '@lumino/widgets';

import { ISyncStatus, SyncState } from './provider';
import { ICrdtSync } from './tokens';

/** The item's DOM id. */
export const STATUS_ITEM_ID = 'jp-crdt-status';

const LABELS: Record<SyncState, string> = {
  connected: 'Connected',
  offline: 'Offline',
  syncing: 'Syncing'
};

/** The status bar widget. */
export class SyncStatusItem extends Widget {
  /**
   * @param sync - the providers and the server's reachability.
   * @param currentModel - the shared model of the document in view (null if none).
   */
  constructor(
    private readonly _sync: ICrdtSync,
    private readonly _currentModel: () => unknown
  ) {
    super();
    this.id = STATUS_ITEM_ID;
    this.addClass('jp-crdt-StatusItem');
    this._dot.className = 'jp-crdt-StatusItem-dot';
    this.node.append(this._dot, this._label);
    _sync.changed.connect(this.update, this);
    this.update();
  }

  /** Show the state of the document in view (or of the server when none is). */
  update(): void {
    const model = this._currentModel();
    const provider = model ? this._sync.providerFor(model) : undefined;
    const status: ISyncStatus = provider?.status ?? {
      state: 'connected',
      pending: 0,
      readOnly: false,
      problem: '',
      saveWaiting: false
    };
    let state = status.state;
    if (!this._sync.serverReachable && state === 'connected') {
      state = 'offline';
    }
    this.node.dataset.state = state;
    this.node.dataset.pending = String(status.pending);
    this.node.dataset.readOnly = String(status.readOnly);
    this.node.dataset.saveWaiting = String(status.saveWaiting);
    let text = LABELS[state];
    if (status.pending > 0) {
      text += ` · ${status.pending} unsaved ${status.pending === 1 ? 'edit' : 'edits'}`;
    }
    if (status.saveWaiting) {
      text += ' · saves when back online';
    }
    if (status.readOnly) {
      text += ' · read-only';
    }
    this._label.textContent = text;
    this.node.title = this._explain(state, status);
  }

  private _explain(state: SyncState, status: ISyncStatus): string {
    const lines: string[] = [];
    if (state === 'offline') {
      lines.push(
        'The server cannot be reached. Keep working: your edits are kept in this browser ' +
          'and merged when the connection is back.'
      );
    } else if (state === 'syncing') {
      lines.push('Exchanging changes with the server.');
    } else {
      lines.push('In sync: every edit made here is stored on the server.');
    }
    if (status.pending > 0) {
      lines.push(`${status.pending} edit(s) not yet acknowledged by the server.`);
    }
    if (status.saveWaiting) {
      lines.push('You asked to save: the document will be saved as soon as the connection is back.');
    }
    if (status.problem) {
      lines.push(status.problem);
    }
    return lines.join('\n');
  }

  private _dot = document.createElement('span');
  private _label = document.createElement('span');
}
