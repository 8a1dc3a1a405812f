/**
 * Read-only documents: open them so that they cannot be typed into, and say so.
 *
 * The server refuses a read-only user's updates anyway (and tells the
 * provider); this keeps the user from making edits that would be refused:
 * the editors are read-only, and a notebook's shared model refuses every
 * local change (see `readonlyguard.ts`). Some of JupyterLab's cell models keep
 * their own copy of part of a cell (a code cell's outputs, a markdown cell's
 * attachments, whether the cell is trusted) and change it before they write
 * the shared cell: when that write is refused, the copy is put back.
 * DOM hook: the document widget gets the class `jp-crdt-readOnly` and a
 * toolbar label `.jp-crdt-ReadOnlyLabel`; a notebook's `data-refused-edits`
 * counts the changes it refused.
 */
import { YNotebook } from '@jupyter/ydoc';
import { Notification } from '@jupyterlab/apputils';
import { DocumentWidget } from '@jupyterlab/docregistry';
import { Notebook } from '@jupyterlab/notebook';
import { JSONExt, JSONValue } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { IRefusal, refuseLocalEdits } from './readonlyguard';

/** The class a read-only document widget gets. */
export const READ_ONLY_CLASS = 'jp-crdt-readOnly';
/** Shortest time between two notes that a change was refused: a burst of commands gets one note. */
const REFUSAL_NOTE_INTERVAL_MS = 5000;

/** Make a document widget read-only, visibly. Idempotent. */
export function showReadOnly(widget: DocumentWidget): void {
  if (widget.isDisposed || widget.hasClass(READ_ONLY_CLASS)) {
    return;
  }
  widget.addClass(READ_ONLY_CLASS);
  const label = new Widget();
  label.addClass('jp-crdt-ReadOnlyLabel');
  label.node.textContent = 'Read-only';
  label.node.title = 'You may read this document and follow its changes, but not edit it.';
  widget.toolbar.insertItem(0, 'crdt-read-only', label);

  const model = widget.context.model as { readOnly: boolean };
  model.readOnly = true;

  const content = widget.content;
  if (content instanceof Notebook) {
    let lastNote = -Infinity;
    let refused = 0;
    widget.node.dataset.refusedEdits = '0';
    const restorer = new CellModelRestorer(content);
    refuseLocalEdits(widget.context.model.sharedModel as YNotebook, refusal => {
      if (restorer.restoring) {
        return; // putting a cell model back writes to its shared cell: refused again, and expected
      }
      restorer.schedule(refusal);
      widget.node.dataset.refusedEdits = String(++refused);
      const now = Date.now();
      if (now - lastNote > REFUSAL_NOTE_INTERVAL_MS) {
        lastNote = now;
        Notification.warning('This notebook is read-only: your changes to it are not applied.', {
          autoClose: 4000
        });
      }
    });
    const lockCells = () => {
      for (const cell of content.widgets) {
        // Not synced to the cell's `editable` metadata: that would write the shared cell (refused),
        // and a collaborator's `editable` would unlock the reader's cell.
        cell.syncEditable = false;
        cell.readOnly = true;
      }
    };
    lockCells();
    // Cells inserted later (by collaborators) are read-only too.
    content.model?.cells.changed.connect(lockCells);
    return;
  }
  const editor = (content as any).editor;
  if (editor && typeof editor.setOption === 'function') {
    editor.setOption('readOnly', true);
  }
}

/** A JupyterLab cell model, as a notebook holds them. */
type CellModel = Notebook['widgets'][number]['model'];
/** An observable list that copies part of a shared cell (`OutputAreaModel`, `AttachmentsModel`). */
interface ICopy {
  toJSON(): unknown;
  fromJSON(values: any): void;
}

/**
 * Puts JupyterLab's cell models back to their shared cells after a refusal.
 *
 * Clear outputs, for one, clears the cell model's output list (and the view
 * shows it) and only then writes the shared cell, which refuses; it also marks
 * the cell trusted. The restoration waits until the command's synchronous work
 * is done (a microtask): restoring in the middle of the list's change signal
 * would reach the output view before that signal does, which would then clear
 * the restored outputs from the view.
 */
class CellModelRestorer {
  constructor(private readonly _notebook: Notebook) {}

  /** True while restoring: the restoration's own writes to the shared cells are refused too. */
  restoring = false;

  /** Restore the model of `refusal`'s cell (once the running command is done), if it has one. */
  schedule(refusal: IRefusal): void {
    const cells = this._notebook.model?.cells;
    if (!refusal.cell || !cells) {
      return;
    }
    let model: CellModel | undefined;
    for (const candidate of cells) {
      if (candidate.sharedModel === refusal.cell) {
        model = candidate;
        break;
      }
    }
    if (!model || this._trustedBefore.has(model)) {
      return;
    }
    // Taken at the first refusal, before the command goes on (clearing outputs trusts the cell last).
    this._trustedBefore.set(model, model.trusted);
    if (this._trustedBefore.size === 1) {
      queueMicrotask(() => this._restore());
    }
  }

  private _restore(): void {
    const pending = [...this._trustedBefore];
    this._trustedBefore.clear();
    this.restoring = true;
    try {
      for (const [model, trusted] of pending) {
        if (!model.isDisposed) {
          restoreCellModel(model, trusted);
        }
      }
    } finally {
      this.restoring = false;
    }
  }

  private readonly _trustedBefore = new Map<CellModel, boolean>();
}

/**
 * Refill `model`'s copies of its shared cell where they differ from it. Outputs
 * put back come back with the trust they had (`trusted`): clearing them
 * trusts the cell, and restored HTML or scripts must not run on that account.
 * A trust the user gave (Trust Notebook) changes no outputs and stays.
 */
function restoreCellModel(model: CellModel, trusted: boolean): void {
  const shared = model.sharedModel as Partial<{ getOutputs(): unknown; getAttachments(): unknown }>;
  const outputs = (model as unknown as { outputs?: ICopy }).outputs;
  if (outputs && shared.getOutputs) {
    const values = shared.getOutputs();
    if (!JSONExt.deepEqual(outputs.toJSON() as JSONValue, values as JSONValue)) {
      model.trusted = trusted;
      outputs.fromJSON(values);
    }
  }
  const attachments = (model as unknown as { attachments?: ICopy }).attachments;
  if (attachments && shared.getAttachments) {
    const values = shared.getAttachments() ?? {};
    if (!JSONExt.deepEqual(attachments.toJSON() as JSONValue, values as JSONValue)) {
      attachments.fromJSON(values);
    }
  }
}
