/**
 * Keeping the user's place in a notebook when collaborators change its cells.
 *
 * JupyterLab's notebook widget follows its active cell across a cells change
 * by looking the cell's id up in the shared model, which already holds the
 * whole change, while the cell widgets are updated one part of the change at
 * a time. A collaborator's move (one change that deletes a cell and inserts
 * its copy) therefore makes another cell active, and the next keystrokes of
 * someone typing below the moved cell land in that other cell.
 *
 * {@link ActiveCellKeeper} notes, before each remote transaction, which cell
 * is active and whether (and where) its editor has the focus; after it (when
 * every cell widget is in place), it makes that cell active again and gives
 * its editor back the focus and the selection. Local transactions are left
 * alone: what the user does on purpose (insert a cell, move one) decides.
 */
import { Notebook } from '@jupyterlab/notebook';
import * as Y from 'yjs';

/** A selection as offsets into the cell's source (positions survive a re-created editor). */
interface IOffsetRange {
  anchor: number;
  head: number;
}

/** Where the user was when a remote transaction began. */
interface IPlace {
  /** The id of the active cell. */
  cellId: string;
  /** The active cell's widget (a moved cell gets a new one). */
  widget: unknown;
  /** The notebook was in edit mode with the focus in the active cell's editor. */
  editing: boolean;
  /** The editor's selections (empty when not editing). */
  selections: IOffsetRange[];
}

/** Keeps a notebook's active cell (and its editor's focus) across collaborators' changes. */
export class ActiveCellKeeper {
  /**
   * @param notebook - the notebook widget whose user's place is kept.
   * @param ydoc - the Yjs document of the notebook's shared model.
   */
  constructor(
    private readonly _notebook: Notebook,
    private readonly _ydoc: Y.Doc
  ) {
    _ydoc.on('beforeTransaction', this._onBeforeTransaction);
    _ydoc.on('afterTransaction', this._onAfterTransaction);
  }

  /** True once {@link dispose} ran. */
  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Stop following the document. */
  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._ydoc.off('beforeTransaction', this._onBeforeTransaction);
    this._ydoc.off('afterTransaction', this._onAfterTransaction);
  }

  private _onBeforeTransaction = (transaction: Y.Transaction): void => {
    this._place = transaction.local ? null : this._currentPlace();
  };

  // Runs after the document's observers: the notebook widget has every cell widget in place.
  private _onAfterTransaction = (transaction: Y.Transaction): void => {
    const place = this._place;
    this._place = null;
    if (transaction.local || !place || this._notebook.isDisposed) {
      return;
    }
    const notebook = this._notebook;
    const index = notebook.widgets.findIndex(cell => cell.model.id === place.cellId);
    if (index < 0) {
      return; // the collaborator deleted it: JupyterLab's choice of a neighbour stands
    }
    const cell = notebook.widgets[index];
    if (notebook.activeCellIndex !== index) {
      notebook.activeCellIndex = index;
    }
    if (!place.editing) {
      return;
    }
    if (notebook.mode !== 'edit') {
      notebook.mode = 'edit';
    }
    const recreated = cell !== place.widget;
    const restore = () => {
      const editor = cell.editor;
      if (!editor || cell.isDisposed || notebook.activeCell !== cell) {
        return;
      }
      // A kept editor maps its selection through the remote change itself; a new one starts at 0.
      if (recreated) {
        const length = editor.model.sharedModel.getSource().length;
        const position = (offset: number) => editor.getPositionAt(Math.min(offset, length))!;
        editor.setSelections(
          place.selections.map(range => ({
            start: position(range.anchor),
            end: position(range.head)
          }))
        );
      }
      if (!editor.hasFocus()) {
        editor.focus();
      }
    };
    if (cell.editor) {
      restore();
    } else {
      void cell.ready.then(restore);
    }
  };

  private _currentPlace(): IPlace | null {
    const cell = this._notebook.activeCell;
    if (!cell) {
      return null;
    }
    const editor = cell.editor;
    const editing = this._notebook.mode === 'edit' && !!editor && editor.hasFocus();
    return {
      cellId: cell.model.id,
      widget: cell,
      editing,
      selections: editing
        ? editor!.getSelections().map(range => ({
            anchor: editor!.getOffsetAt(range.start),
            head: editor!.getOffsetAt(range.end)
          }))
        : []
    };
  }

  private _isDisposed = false;
  private _place: IPlace | null = null;
}
