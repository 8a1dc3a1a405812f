/**
 * jupyter-crdt's JupyterLab extension.
 *
 * Plugins (all `jupyter-crdt:*`):
 * - `sync`: the {@link ICrdtSync} service (open providers, server reachability).
 * - `document-provider`: JupyterLab's collaborative documents connect through
 *   our provider (offline-safe, acknowledged edits); replaces
 *   `@jupyter/docprovider-extension:websocket-provider-document-factory`.
 * - `connection-lost`: losing the server shows in the status bar instead of a
 *   modal dialog; replaces `@jupyterlab/hub-extension:connectionlost`.
 * - `status`: the sync status item `#jp-crdt-status`: in the status bar, or,
 *   where there is none (Jupyter Notebook 7), beside the menu bar, with a
 *   notification when the server is lost and when it is back.
 * - `offline-save`: saving a document while offline (toolbar, File menu,
 *   Accel S) shows a note instead of JupyterLab's save error dialog, and saves
 *   once the connection is back.
 * - `read-only`: documents the server says are read-only open read-only.
 * - `active-cell`: a collaborator's change to a notebook's cells never moves
 *   the user's active cell or editor focus (see `activecell.ts`).
 * - `history`: the history side panel `#jp-crdt-history` and `crdt:open-history`.
 *
 * All of them step aside (the module exports none) unless the page config
 * says our server extension is running (`jupyterCrdt: "true"`, set by its
 * page config hook, which also disables the plugins ours replace): without
 * it, their requests would 404 and the reference's plugins do the work.
 */
import { IDocumentProviderFactory } from '@jupyter/docprovider';
import { YNotebook } from '@jupyter/ydoc';
import {
  IConnectionLost,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { DocumentRegistry, DocumentWidget } from '@jupyterlab/docregistry';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';
import { historyIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { ActiveCellKeeper } from './activecell';
import { HistoryPanel, IHistoryTarget } from './historypanel';
import { saveOfflineThroughRoom } from './offlinesave';
import { noticeConnection, warmUpToasts } from './connectionnotice';
import { probeUntilReachable, serverAnswers } from './probe';
import { CrdtDocumentProvider } from './provider';
import { showReadOnly } from './readonly';
import { STATUS_ITEM_ID, SyncStatusItem } from './statusitem';
import { CrdtSync, ICrdtSync } from './tokens';

export { ICrdtSync } from './tokens';
export { CrdtDocumentProvider } from './provider';

/** The command that shows the history panel. */
export const OPEN_HISTORY_COMMAND = 'crdt:open-history';
/** JupyterLab's save (`docmanager:save`), which is offline-safe for our documents. */
export const SAVE_COMMAND = 'crdt:save';
/** The page-config option our server extension sets: it is running, our plugins may start. */
export const PAGE_CONFIG_FLAG = 'jupyterCrdt';

/** The document widget in the main area, if the current widget is one. */
function currentDocument(app: JupyterFrontEnd): DocumentWidget | null {
  const widget = app.shell.currentWidget;
  return widget instanceof DocumentWidget ? widget : null;
}

/**
 * Call `onOpened` for every document widget that opens from now on and
 * connects through one of our providers, once its document is loaded.
 */
function followDocuments(
  app: JupyterFrontEnd,
  sync: ICrdtSync,
  onOpened: (widget: DocumentWidget, provider: CrdtDocumentProvider) => void
): void {
  const onWidgetCreated = async (_: unknown, widget: Widget) => {
    if (!(widget instanceof DocumentWidget)) {
      return;
    }
    try {
      await widget.context.ready;
    } catch {
      return; // the document did not open
    }
    const provider = sync.providerFor(widget.context.model.sharedModel);
    if (provider && !widget.isDisposed) {
      onOpened(widget, provider);
    }
  };
  const follow = (factory: DocumentRegistry.WidgetFactory | undefined) => {
    factory?.widgetCreated.connect(onWidgetCreated);
  };
  for (const factory of app.docRegistry.widgetFactories()) {
    follow(factory);
  }
  app.docRegistry.changed.connect((registry, change) => {
    if (change.type === 'widgetFactory' && change.change === 'added' && change.name) {
      follow(registry.getWidgetFactory(change.name));
    }
  });
}

const syncPlugin: JupyterFrontEndPlugin<ICrdtSync> = {
  id: 'jupyter-crdt:sync',
  description: 'The open documents of jupyter-crdt rooms and their sync states.',
  autoStart: true,
  provides: ICrdtSync,
  activate: () => new CrdtSync()
};

const documentProviderPlugin: JupyterFrontEndPlugin<IDocumentProviderFactory> = {
  id: 'jupyter-crdt:document-provider',
  description: 'Connects collaborative documents to jupyter-crdt rooms, offline-safe.',
  autoStart: true,
  requires: [ICrdtSync],
  provides: IDocumentProviderFactory,
  activate: (app: JupyterFrontEnd, sync: ICrdtSync): IDocumentProviderFactory => ({
    create: options => {
      const provider = new CrdtDocumentProvider({
        path: options.path,
        contentType: options.contentType,
        format: options.format,
        model: options.model,
        user: options.user,
        serverSettings: options.serverSettings ?? app.serviceManager.serverSettings
      });
      (sync as CrdtSync).add(provider);
      return provider;
    }
  })
};

const connectionLostPlugin: JupyterFrontEndPlugin<IConnectionLost> = {
  id: 'jupyter-crdt:connection-lost',
  description: 'Shows a lost server in the sync status; never a dialog that stops typing.',
  autoStart: true,
  requires: [ICrdtSync],
  provides: IConnectionLost,
  activate: (app: JupyterFrontEnd, sync: ICrdtSync): IConnectionLost => {
    const state = sync as CrdtSync;
    let probing = false;
    // Ask the server until it answers, backing off on any failure (src/probe.ts); the status bar says
    // offline meanwhile.
    const probe = async (settings: ServerConnection.ISettings) => {
      if (
        await probeUntilReachable({
          check: () => serverAnswers(settings),
          stop: () => state.serverReachable
        })
      ) {
        state.serverReachable = true;
      }
      probing = false;
    };
    return async manager => {
      state.serverReachable = false;
      if (!probing) {
        probing = true;
        void probe(manager.serverSettings);
      }
    };
  }
};

const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-crdt:status',
  description:
    'The sync status (connected, offline or syncing, edits not yet stored): in the status bar, or ' +
    'beside the menu bar with notifications where there is no status bar (Jupyter Notebook 7).',
  autoStart: true,
  requires: [ICrdtSync],
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, sync: ICrdtSync, statusBar: IStatusBar | null) => {
    const item = new SyncStatusItem(
      sync,
      () => currentDocument(app)?.context.model.sharedModel ?? null
    );
    app.shell.currentChanged?.connect(() => item.update());
    if (statusBar) {
      statusBar.registerStatusItem(STATUS_ITEM_ID, { item, align: 'left', rank: 5 });
      return;
    }
    // No status bar: the item goes beside the menu bar (Notebook 7 keeps its kernel status there),
    // and losing the server, which nothing else would show, also makes a notification.
    item.addClass('jp-crdt-mod-menu');
    app.shell.add(item, 'menu', { rank: 10005 });
    void app.restored.then(() => warmUpToasts());
    noticeConnection(sync);
  }
};

const offlineSavePlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-crdt:offline-save',
  description: 'Saving a document while offline waits for the connection instead of failing.',
  autoStart: true,
  requires: [ICrdtSync],
  activate: (app: JupyterFrontEnd, sync: ICrdtSync) => {
    // Every save of our documents (toolbar, File menu, Accel S, autosave) is offline-safe: no error
    // dialog while the server is away; the save happens once it is back. Its notification needs the
    // toast library loaded while the server still answers.
    void app.restored.then(() => warmUpToasts());
    followDocuments(app, sync, (widget, provider) =>
      saveOfflineThroughRoom(
        widget.context,
        provider,
        () => provider.status.state === 'offline' || !sync.serverReachable
      )
    );
    app.commands.addCommand(SAVE_COMMAND, {
      label: 'Save (offline-safe)',
      execute: () => app.commands.execute('docmanager:save')
    });
  }
};

const readOnlyPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-crdt:read-only',
  description: 'Opens documents read-only, visibly, when the server says so.',
  autoStart: true,
  requires: [ICrdtSync],
  activate: (app: JupyterFrontEnd, sync: ICrdtSync) => {
    followDocuments(app, sync, (widget, provider) => {
      const check = () => {
        if (provider.status.readOnly) {
          showReadOnly(widget);
        }
      };
      check();
      provider.statusChanged.connect(check);
      widget.disposed.connect(() => provider.statusChanged.disconnect(check));
    });
  }
};

const activeCellPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-crdt:active-cell',
  description: "Keeps the user's active cell and editor focus when collaborators change the cells.",
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app: JupyterFrontEnd, notebooks: INotebookTracker) => {
    const keep = (panel: NotebookPanel) => {
      const sharedModel = panel.context.model.sharedModel as YNotebook;
      if (!sharedModel.ydoc) {
        return;
      }
      const keeper = new ActiveCellKeeper(panel.content, sharedModel.ydoc);
      panel.disposed.connect(() => keeper.dispose());
    };
    notebooks.forEach(keep);
    notebooks.widgetAdded.connect((_, panel) => keep(panel));
  }
};

const historyPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-crdt:history',
  description: 'The history side panel: changes, versions, diffs and restore.',
  autoStart: true,
  requires: [ICrdtSync],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    sync: ICrdtSync,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new HistoryPanel(app.serviceManager.serverSettings);
    panel.title.icon = historyIcon;
    app.shell.add(panel, 'right', { rank: 900 });
    restorer?.add(panel, panel.id);

    let followed: DocumentWidget | null = null;
    const target = (): IHistoryTarget | null => {
      if (!followed || followed.isDisposed) {
        return null;
      }
      const context = followed.context;
      const provider = sync.providerFor(context.model.sharedModel);
      return {
        path: context.path,
        isNotebook: context.path.endsWith('.ipynb'),
        readOnly: provider?.status.readOnly ?? false
      };
    };
    const onPathChanged = () => panel.setTarget(target());
    // Anyone's edit (ours or a collaborator's) makes a new change: reload once the document is still.
    const onContentChanged = () => panel.scheduleRefresh();
    const follow = () => {
      const widget = currentDocument(app);
      if (!widget || widget === followed) {
        return; // a sidebar or a non-document keeps the last document in view
      }
      followed?.context.pathChanged.disconnect(onPathChanged);
      followed?.context.model.contentChanged.disconnect(onContentChanged);
      followed = widget;
      widget.context.pathChanged.connect(onPathChanged);
      widget.context.model.contentChanged.connect(onContentChanged);
      widget.disposed.connect(() => {
        if (followed === widget) {
          followed = null;
          panel.setTarget(null);
        }
      });
      panel.setTarget(target());
    };
    app.shell.currentChanged?.connect(follow);
    follow();
    // A document found read-only after it opened: the panel's Restore button follows.
    sync.changed.connect(() => {
      const t = target();
      if (t && t.readOnly !== panel.target?.readOnly) {
        panel.setTarget(t);
      }
    });

    app.commands.addCommand(OPEN_HISTORY_COMMAND, {
      label: 'Show Document History',
      caption: 'The changes of the current document: versions, diffs and restore',
      icon: historyIcon,
      execute: () => {
        follow();
        app.shell.activateById(panel.id);
      }
    });
    palette?.addItem({ command: OPEN_HISTORY_COMMAND, category: 'Collaboration' });
  }
};

const plugins: JupyterFrontEndPlugin<any>[] = [
  syncPlugin,
  documentProviderPlugin,
  connectionLostPlugin,
  statusPlugin,
  offlineSavePlugin,
  readOnlyPlugin,
  activeCellPlugin,
  historyPlugin
];

/**
 * Whether our server extension runs behind this page: it says so in the page config. Without it
 * (not enabled, or it refused to load beside jupyter-collaboration), our plugins would take over the
 * documents' connections and talk to routes that do not exist; none of them is registered then, so
 * the plugins JupyterLab would otherwise use (the reference's provider) keep working.
 */
function serverExtensionRuns(): boolean {
  return PageConfig.getOption(PAGE_CONFIG_FLAG) === 'true';
}

if (!serverExtensionRuns()) {
  console.info(
    'jupyter-crdt: the jupyter_crdt server extension is not running here (no ' +
      `"${PAGE_CONFIG_FLAG}" in the page config); its JupyterLab plugins stay off.`
  );
}

export default serverExtensionRuns() ? plugins : [];
