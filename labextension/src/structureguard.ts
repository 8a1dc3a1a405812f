/**
 * A read-only notebook's cells stay where the server has them.
 *
 * The server refuses a reader's updates, but JupyterLab's notebook commands
 * (`dd`, cut, paste, move, change the cell type, drag a cell...) edit the
 * local shared model first: the reader's own view would lose, gain or reorder
 * cells until a reload, and would then miss collaborators' edits of a cell
 * deleted only in that view. JupyterLab has no read-only switch for these
 * commands, and the cell metadata they do check (`deletable`, `editable`) is
 * part of the shared document, which a reader must not write. So the notebook's
 * shared model itself refuses local changes to its list of cells: every such
 * command goes through {@link YNotebook.insertCells},
 * {@link YNotebook.deleteCellRange} or {@link YNotebook.moveCells} (the other
 * structural methods call these). Collaborators' changes are applied by Yjs
 * directly and still show.
 */
import { createStandaloneCell, YNotebook } from '@jupyter/ydoc';

/** The marker of a guarded shared model (so guarding twice is harmless). */
const GUARDED = Symbol('jupyter-crdt:structure-guarded');

/**
 * Make `notebook` refuse local insertions, deletions and moves of cells from now on.
 *
 * Insertions hand the caller detached cells (what the insertion would have
 * returned, attached to nothing), so commands that go on to fill or select the
 * new cell neither fail nor change the document; they are disposed once the
 * command's synchronous work is done (each has its own awareness, whose timer
 * would otherwise run forever). Idempotent.
 *
 * @param onRefused - called each time a change is refused (to tell the user, say).
 */
export function refuseStructuralEdits(notebook: YNotebook, onRefused: () => void = () => {}): void {
  const target = notebook as YNotebook & { [GUARDED]?: boolean };
  if (target[GUARDED]) {
    return;
  }
  target[GUARDED] = true;
  // Own properties shadow the prototype's methods for this one instance only.
  Object.assign(notebook, {
    insertCells: (_index: number, cells: Parameters<YNotebook['insertCells']>[1]) => {
      onRefused();
      const detached = cells.map(cell => createStandaloneCell(cell));
      setTimeout(() => detached.forEach(cell => cell.dispose()), 0);
      return detached;
    },
    deleteCellRange: (_from: number, _to: number) => {
      onRefused();
    },
    moveCells: (_from: number, _to: number, _n?: number) => {
      onRefused();
    }
  });
}

/** True when {@link refuseStructuralEdits} guards `notebook`. */
export function refusesStructuralEdits(notebook: YNotebook): boolean {
  return (notebook as YNotebook & { [GUARDED]?: boolean })[GUARDED] === true;
}
