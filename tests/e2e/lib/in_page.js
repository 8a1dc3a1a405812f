// Installed into every page (Playwright addInitScript) before JupyterLab starts: read-only views of
// the notebook as JupyterLab holds it, for the scenarios to wait on and report. Needs the server's
// LabApp.expose_app_in_browser, which puts the application at window.jupyterapp.
window.e2e = {
  /** The open notebook panel of `path`, or null. */
  panel(path) {
    const app = window.jupyterapp;
    if (!app || !app.shell) {
      return null;
    }
    for (const widget of app.shell.widgets('main')) {
      if (widget.context && widget.context.path === path && widget.content && widget.content.model) {
        return widget;
      }
    }
    return null;
  },
  /** True once the notebook is loaded from the server and every cell has its widget. */
  ready(path) {
    const panel = this.panel(path);
    if (!panel || !panel.context.isReady) {
      return false;
    }
    const n = panel.content.model.sharedModel.cells.length;
    return n > 0 && panel.content.widgets.length === n;
  },
  /** The cells as the shared model holds them: [{id, type, source}]. */
  cells(path) {
    const panel = this.panel(path);
    if (!panel) {
      return null;
    }
    return panel.content.model.sharedModel.cells.map(cell => ({
      id: cell.getId(),
      type: cell.cell_type,
      source: cell.getSource(),
    }));
  },
  /** The text each cell's CodeMirror view shows (what the user sees), in order. */
  editorTexts(path) {
    const panel = this.panel(path);
    if (!panel) {
      return null;
    }
    return panel.content.widgets.map(cell =>
      cell.editor && cell.editor.editor ? cell.editor.editor.state.doc.toString() : null);
  },
  /**
   * The other users' cursors this page shows: [{cell, color, name}]. A cursor is drawn inside the
   * cell's editor (.jp-remote-cursor, in its user's colour); its name flag is a tooltip floating
   * above it (.jp-remote-userFlag, same colour). `name` is the flag drawn at that cursor, or null.
   */
  remoteCursors(path) {
    const panel = this.panel(path);
    if (!panel) {
      return null;
    }
    const flags = Array.from(document.querySelectorAll('.jp-remote-userFlag')).map(flag => ({
      // The flag shows the initials, then the name in its own element.
      name: (flag.querySelector('.jp-remote-userFlag-name') || flag).textContent.trim(),
      color: getComputedStyle(flag).borderTopColor,
      rect: flag.getBoundingClientRect(),
    }));
    const cursors = [];
    panel.content.widgets.forEach((cell, index) => {
      for (const caret of cell.node.querySelectorAll('.jp-remote-cursor')) {
        const at = caret.getBoundingClientRect();
        const color = getComputedStyle(caret).borderLeftColor;
        // The flag of this caret: same colour, its bottom edge just above the caret's top.
        const flag = flags.find(f => f.color === color && Math.abs(f.rect.left - at.left) < 12 &&
          Math.abs(f.rect.bottom - at.top) < 24);
        cursors.push({ cell: index, color, name: flag ? flag.name : null });
      }
    });
    return cursors;
  },
  /**
   * Start recording the notifications (JupyterLab's toasts, `.jp-Notification-Toast-*`) this page
   * shows: every distinct {type, text} goes to window.e2e.toastLog, so one that closes by itself, or
   * one whose text and type change in place, is not missed. Hidden ones are not recorded.
   */
  watchToasts() {
    if (this.toastLog) {
      return true; // already recording (since the page loaded, see User.open's watchToasts)
    }
    this.toastLog = [];
    const record = () => {
      for (const toast of document.querySelectorAll('.Toastify__toast[class*="jp-Notification-Toast-"]')) {
        if (getComputedStyle(toast).visibility === 'hidden') {
          continue; // not shown to the user
        }
        // Toastify's type class follows updates in place (JupyterLab's class keeps the first type).
        const type = Array.from(toast.classList).map(name => name.match(/^Toastify__toast--(\w+)$/))
          .find(match => match);
        const text = toast.innerText.trim();
        if (type && !this.toastLog.some(seen => seen.type === type[1] && seen.text === text)) {
          this.toastLog.push({ type: type[1], text });
        }
      }
    };
    record();
    new MutationObserver(record).observe(document.body,
      { childList: true, subtree: true, attributes: true, attributeFilter: ['class'], characterData: true });
    return true;
  },
  /**
   * Start recording what our extension's status bar item (#jp-crdt-status) shows: every distinct
   * {state, pending} goes to window.e2e.statusLog. Returns false while the item is not there.
   */
  watchStatus() {
    const item = document.getElementById('jp-crdt-status');
    if (!item) {
      return false;
    }
    this.statusLog = [];
    const record = () => {
      const now = { state: item.dataset.state, pending: Number(item.dataset.pending) };
      const last = this.statusLog[this.statusLog.length - 1];
      if (!last || last.state !== now.state || last.pending !== now.pending) {
        this.statusLog.push(now);
      }
    };
    record();
    new MutationObserver(record).observe(item, { attributes: true });
    return true;
  },
  /**
   * How many unacknowledged edits our extension has written to this browser's IndexedDB (the list it
   * keeps under 'jupyter-crdt:pending' beside each document's y-indexeddb updates): the most over all
   * databases of this origin. What a closed tab leaves behind for the next page load.
   */
  async storedPendingEdits() {
    let most = 0;
    for (const { name } of await indexedDB.databases()) {
      const db = await new Promise((resolve, reject) => {
        const request = indexedDB.open(name);
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      try {
        if (!db.objectStoreNames.contains('custom')) {
          continue;
        }
        const saved = await new Promise((resolve, reject) => {
          const request = db.transaction('custom', 'readonly').objectStore('custom').get('jupyter-crdt:pending');
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        if (typeof saved === 'string') {
          most = Math.max(most, JSON.parse(saved).length);
        }
      } finally {
        db.close();
      }
    }
    return most;
  },
  /** Make cell `index` the active cell (as a click on its prompt does). */
  selectCell(path, index) {
    const panel = this.panel(path);
    panel.content.mode = 'command';
    panel.content.activeCellIndex = index;
    panel.content.deselectAll();
    return panel.content.activeCellIndex;
  },
};

// Record the notifications from the start (User.open's `watchToasts` sets the flag).
if (window.e2eWatchToastsFromStart) {
  document.addEventListener('DOMContentLoaded', () => window.e2e.watchToasts());
}
