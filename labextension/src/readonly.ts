/**
 * Read-only documents: open them so that they cannot be typed into, and say so.
 *
 * The server refuses a read-only user's updates anyway (and tells the
 * provider); this keeps the user from making edits that would be refused:
 * the editors are read-only, and a notebook's cells cannot be added, deleted
 * or moved (see `structureguard.ts`).
 * DOM hook: the document widget gets the class `jp-crdt-readOnly` and a
 * toolbar label `.jp-crdt-ReadOnlyLabel`; a notebook's `data-refused-edits`
 * counts the cell changes it refused.
 */
import { YNotebook } from '@jupyter/ydoc';
import { Notification } from '@jupyterlab/apputils';
import { DocumentWidget } from '@jupyterlab/docregistry';
import { Notebook } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { refuseStructuralEdits } from './structureguard';

/** The class a read-only document widget gets. */
export const READ_ONLY_CLASS = 'jp-crdt-readOnly';
/** Shortest time between two notes that a cell change was refused: a burst of commands gets one note. */
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
    refuseStructuralEdits(widget.context.model.sharedModel as YNotebook, () => {
      widget.node.dataset.refusedEdits = String(++refused);
      const now = Date.now();
      if (now - lastNote > REFUSAL_NOTE_INTERVAL_MS) {
        lastNote = now;
        Notification.warning('This notebook is read-only: its cells cannot be added, deleted or moved.', {
          autoClose: 4000
        });
      }
    });
    const lockCells = () => {
      for (const cell of content.widgets) {
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
