/**
 * The history side panel: the current document's changes, the document as it
 * was after one of them, the diff from there to now, and Restore.
 *
 * DOM hooks: the panel has id `jp-crdt-history`; each change row is
 * `.jp-crdt-change[data-seq][data-author]` (`.jp-mod-selected` when chosen),
 * the restore button `.jp-crdt-restore[data-seq]`, the message line
 * `.jp-crdt-History-message` (`.jp-mod-error` for a failure), the refresh button
 * `.jp-crdt-refresh`, the selected version `.jp-crdt-version` and the diff
 * `.jp-crdt-diff` (one `.jp-crdt-diff-cell[data-status]` per cell).
 */
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import {
  fetchDiff,
  fetchLog,
  fetchVersion,
  ICellDiff,
  IChange,
  restoreVersion
} from './historyapi';

/** The panel's DOM id. */
export const HISTORY_PANEL_ID = 'jp-crdt-history';
/**
 * How long the document must stay still before the log is reloaded. Reading
 * the log closes the change the server is grouping keystrokes into, so the
 * panel waits for a pause rather than splitting a burst of typing.
 */
const REFRESH_IDLE_MS = 3000;

/** The document the panel follows. */
export interface IHistoryTarget {
  path: string;
  /** Notebooks have diffs; text files only versions. */
  isNotebook: boolean;
  readOnly: boolean;
}

/** The history panel. */
export class HistoryPanel extends Widget {
  constructor(private readonly _settings: ServerConnection.ISettings) {
    super();
    this.id = HISTORY_PANEL_ID;
    this.addClass('jp-crdt-History');
    this.title.caption = 'Document history';

    const header = document.createElement('div');
    header.className = 'jp-crdt-History-header';
    this._title.className = 'jp-crdt-History-title';
    const refresh = document.createElement('button');
    refresh.className = 'jp-crdt-refresh jp-mod-styled';
    refresh.textContent = 'Refresh';
    refresh.title = 'Reload the list of changes';
    refresh.addEventListener('click', () => void this.refresh());
    header.append(this._title, refresh);

    this._message.className = 'jp-crdt-History-message';
    this._list.className = 'jp-crdt-History-changes';
    this._details.className = 'jp-crdt-History-details';
    this.node.append(header, this._message, this._list, this._details);
    this._render();
  }

  /** The document the panel follows. */
  get target(): IHistoryTarget | null {
    return this._target;
  }

  /** Follow another document (null: nothing to show). */
  setTarget(target: IHistoryTarget | null): void {
    const same =
      target?.path === this._target?.path && target?.readOnly === this._target?.readOnly;
    this._target = target;
    if (!same) {
      this._changes = [];
      this._selected = null;
      this._details.replaceChildren();
      this._setMessage(''); // it was about the other document
      this._loadFailed = false;
      void this.refresh();
    }
  }

  /** Reload the log once the document has been still for a moment (while the panel shows). */
  scheduleRefresh(): void {
    if (this._refreshTimer !== null) {
      window.clearTimeout(this._refreshTimer);
      this._refreshTimer = null;
    }
    if (!this.isVisible) {
      return; // reloaded when shown
    }
    this._refreshTimer = window.setTimeout(() => {
      this._refreshTimer = null;
      void this.refresh();
    }, REFRESH_IDLE_MS);
  }

  /** Reload the log now. */
  async refresh(): Promise<void> {
    const target = this._target;
    if (!target) {
      this._changes = [];
      this._render();
      return;
    }
    try {
      const changes = await fetchLog(this._settings, target.path);
      if (target !== this._target) {
        return; // the panel moved on meanwhile
      }
      this._changes = changes;
      if (this._loadFailed) {
        this._setMessage(''); // loading works again; what a restore said stays until the next one
        this._loadFailed = false;
      }
    } catch (error) {
      this._setMessage(`Could not load the history: ${(error as Error).message}`, true);
      this._loadFailed = true;
    }
    this._render();
  }

  dispose(): void {
    if (this._refreshTimer !== null) {
      window.clearTimeout(this._refreshTimer);
    }
    super.dispose();
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  private _render(): void {
    const target = this._target;
    this._title.textContent = target ? target.path : 'Open a document to see its history';
    const rows = this._changes
      .slice()
      .reverse() // newest first: what users look for
      .map(change => this._row(change));
    this._list.replaceChildren(...rows);
  }

  private _row(change: IChange): HTMLElement {
    const row = document.createElement('li');
    row.className = 'jp-crdt-change';
    if (change.seq === this._selected) {
      row.classList.add('jp-mod-selected');
    }
    row.dataset.seq = String(change.seq);
    row.dataset.author = change.author;
    row.tabIndex = 0;
    const head = document.createElement('div');
    head.className = 'jp-crdt-change-head';
    const author = document.createElement('span');
    author.className = 'jp-crdt-change-author';
    author.textContent = change.author;
    const time = document.createElement('span');
    time.className = 'jp-crdt-change-time';
    if (change.time > 0) {
      const date = new Date(change.time * 1000);
      time.textContent = date.toLocaleString();
      time.title = date.toISOString();
    }
    head.append(`#${change.seq} `, author, ' ', time);
    const summary = document.createElement('div');
    summary.className = 'jp-crdt-change-summary';
    summary.textContent = change.summary ?? `${change.size} bytes`;
    row.append(head, summary);
    const select = () => void this._select(change.seq);
    row.addEventListener('click', select);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        select();
      }
    });
    return row;
  }

  /** Show the document as it was after change `seq`, and what changed since. */
  private async _select(seq: number): Promise<void> {
    const target = this._target;
    if (!target) {
      return;
    }
    this._selected = seq;
    this._render();
    const details = this._details;
    details.replaceChildren(this._paragraph(`Loading change #${seq}…`));
    try {
      const [content, diff] = await Promise.all([
        fetchVersion(this._settings, target.path, seq),
        target.isNotebook ? fetchDiff(this._settings, target.path, seq) : Promise.resolve(null)
      ]);
      if (target !== this._target || seq !== this._selected) {
        return;
      }
      details.replaceChildren(
        this._restoreBar(target, seq),
        this._versionView(seq, content),
        ...(diff ? [this._diffView(diff)] : [])
      );
    } catch (error) {
      details.replaceChildren(
        this._paragraph(`Could not load change #${seq}: ${(error as Error).message}`)
      );
    }
  }

  private _restoreBar(target: IHistoryTarget, seq: number): HTMLElement {
    const bar = document.createElement('div');
    bar.className = 'jp-crdt-History-actions';
    const button = document.createElement('button');
    button.className = 'jp-crdt-restore jp-mod-styled jp-mod-accept';
    button.dataset.seq = String(seq);
    button.textContent = `Restore #${seq}`;
    button.title =
      'Make the document what it was after this change. This is a new change: ' +
      'nothing after it is lost, and it can be restored in turn.';
    button.disabled = target.readOnly;
    button.addEventListener('click', async () => {
      button.disabled = true;
      this._loadFailed = false;
      this._setMessage(`Restoring the version after change #${seq}…`);
      try {
        const restored = await restoreVersion(this._settings, target.path, seq);
        // A restore that changes nothing says so: a silent no-op looks like a restore that failed.
        this._setMessage(
          restored.changed === false
            ? `Nothing to restore: the document already is what it was after change #${seq}.`
            : `Restored the version after change #${seq}.`
        );
        await this.refresh();
      } catch (error) {
        this._setMessage(`Restore of change #${seq} failed: ${(error as Error).message}`, true);
      } finally {
        button.disabled = target.readOnly;
      }
    });
    bar.append(button);
    return bar;
  }

  private _versionView(seq: number, content: unknown): HTMLElement {
    const section = document.createElement('section');
    section.className = 'jp-crdt-version';
    section.dataset.seq = String(seq);
    const heading = document.createElement('h3');
    heading.textContent = `After change #${seq}`;
    section.append(heading);
    if (typeof content === 'string') {
      section.append(this._pre(content));
      return section;
    }
    const cells = ((content as any)?.cells ?? []) as any[];
    if (cells.length === 0) {
      section.append(this._paragraph('No cells.'));
    }
    for (const cell of cells) {
      const div = document.createElement('div');
      div.className = 'jp-crdt-version-cell';
      div.dataset.cellType = String(cell.cell_type);
      const source = Array.isArray(cell.source) ? cell.source.join('') : String(cell.source ?? '');
      div.append(this._pre(source));
      section.append(div);
    }
    return section;
  }

  private _diffView(cells: ICellDiff[]): HTMLElement {
    const section = document.createElement('section');
    section.className = 'jp-crdt-diff';
    const heading = document.createElement('h3');
    heading.textContent = 'Changed since';
    section.append(heading);
    const changed = cells.filter(c => c.status !== 'unchanged');
    if (changed.length === 0) {
      section.append(this._paragraph('Nothing changed since.'));
    }
    for (const cell of changed) {
      const div = document.createElement('div');
      div.className = 'jp-crdt-diff-cell';
      div.dataset.status = cell.status;
      div.dataset.cellId = cell.id;
      const label = document.createElement('div');
      label.className = 'jp-crdt-diff-status';
      label.textContent = `${cell.status} ${cell.cell_type ?? 'cell'} ${cell.id}`;
      div.append(label);
      if (cell.diff) {
        const pre = document.createElement('pre');
        for (const line of cell.diff.split('\n')) {
          const span = document.createElement('span');
          span.className = line.startsWith('+')
            ? 'jp-crdt-diff-added'
            : line.startsWith('-')
              ? 'jp-crdt-diff-removed'
              : '';
          span.textContent = line + '\n';
          pre.append(span);
        }
        div.append(pre);
      }
      section.append(div);
    }
    return section;
  }

  /** Show `text` above the list (an error stands out, and is announced to screen readers). */
  private _setMessage(text: string, error = false): void {
    this._message.textContent = text;
    this._message.hidden = !text;
    this._message.classList.toggle('jp-mod-error', error);
    this._message.setAttribute('role', error ? 'alert' : 'status');
  }

  private _paragraph(text: string): HTMLElement {
    const p = document.createElement('p');
    p.textContent = text;
    return p;
  }

  private _pre(text: string): HTMLElement {
    const pre = document.createElement('pre');
    pre.textContent = text;
    return pre;
  }

  private _target: IHistoryTarget | null = null;
  private _changes: IChange[] = [];
  private _selected: number | null = null;
  private _refreshTimer: number | null = null;
  private _loadFailed = false;
  private _title = document.createElement('div');
  private _message = document.createElement('div');
  private _list = document.createElement('ol');
  private _details = document.createElement('div');
}
