/**
 * The document provider: one shared document kept in sync with its room on
 * the jupyter-crdt server, and kept in the browser while the server is away.
 *
 * - Local first: every update is stored in IndexedDB (y-indexeddb) as it
 *   happens, so edits survive losing the server and reloading the page; they
 *   are merged into the room on the next connection (Yjs sync step 1/2).
 * - The websocket (y-websocket) reconnects by itself, forever, with backoff.
 * - The server's acknowledgements (JSON channel) tell which edits are
 *   durable on the server; the count of the others is shown in the status bar.
 * - No dialogs: a lost connection, a slow load or a refused edit changes the
 *   provider's state, never the user's document.
 */
import { IDocumentProvider } from '@jupyter/collaborative-drive';
import { IForkProvider } from '@jupyter/docprovider';
import { DocumentChange, YDocument } from '@jupyter/ydoc';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection, User } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import * as decoding from 'lib0/decoding';
import { IndexeddbPersistence } from 'y-indexeddb';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

import { encodeSaveRequest, JSON_MESSAGE_TYPE, readServerMessage } from './jsonchannel';
import { ISavedEdit, PendingEdits } from './pendingedits';
import { IDocumentSession, requestSession, SessionRefused } from './session';

/** Where the rooms are, under the server's websocket URL. */
const ROOM_URL = 'api/collaboration/room';
/** Close codes after which reconnecting cannot help (docs/rest-api.md). */
const FINAL_CLOSE_CODES = [4400, 4404, 4500];
/** Longest wait between two session requests while the server is unreachable. */
const MAX_SESSION_RETRY_MS = 10000;
/** The IndexedDB metadata key holding the unacknowledged edits. */
const PENDING_KEY = 'jupyter-crdt:pending';

/** What the status bar shows for a document. */
export type SyncState = 'connected' | 'offline' | 'syncing';

/** A snapshot of a provider's state. */
export interface ISyncStatus {
  /** offline: no open socket; syncing: open, but not in sync or edits unacknowledged; connected: all durable. */
  state: SyncState;
  /** Local edits the server has not yet acknowledged as durable. */
  pending: number;
  /** The server said this user may only read the document. */
  readOnly: boolean;
  /** Why the provider stopped trying (the file is gone...), if it did. */
  problem: string;
  /** A save was asked for while disconnected: it happens when the connection is back. */
  saveWaiting: boolean;
}

/** A y-websocket provider for jupyter-crdt rooms. */
export class CrdtDocumentProvider implements IDocumentProvider, IForkProvider {
  constructor(options: CrdtDocumentProvider.IOptions) {
    this._path = options.path;
    this.contentType = options.contentType;
    this.format = options.format;
    this._model = options.model;
    this._settings = options.serverSettings ?? ServerConnection.makeSettings();
    this._user = options.user;
    this._ready.promise.catch(() => undefined); // a rejection is reported to whoever awaits it

    this._pending.changed.connect(this._onPendingChanged, this);
    this._model.ydoc.on('afterTransaction', this._onTransaction);
    this._user.ready
      .then(() => this._onUserChanged())
      .catch(e => console.error(e));
    this._user.userChanged.connect(this._onUserChanged, this);
    void this._start();
  }

  readonly contentType: string;
  readonly format: string;

  /** The shared model this provider keeps in sync. */
  get model(): YDocument<DocumentChange> {
    return this._model;
  }

  /** The document's path when it was opened. */
  get path(): string {
    return this._path;
  }
  set path(value: string) {
    this._path = value;
  }

  /** Resolves once the document is in sync with the server for the first time. */
  get ready(): Promise<void> {
    return this._ready.promise;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** The current state (what the status bar shows). */
  get status(): ISyncStatus {
    const ws = this._ws;
    let state: SyncState = 'offline';
    if (ws && ws.wsconnected) {
      state = ws.synced && this._pending.count === 0 ? 'connected' : 'syncing';
    }
    return {
      state,
      pending: this._pending.count,
      readOnly: this._session?.readOnly ?? false,
      problem: this._problem,
      saveWaiting: this._savesWaiting > 0
    };
  }

  /** Emitted whenever {@link status} may have changed. */
  get statusChanged(): ISignal<this, ISyncStatus> {
    return this._statusChanged;
  }

  /** The session the server answered (null until it did). */
  get session(): IDocumentSession | null {
    return this._session;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._model.ydoc.off('afterTransaction', this._onTransaction);
    this._user.userChanged.disconnect(this._onUserChanged, this);
    this._closeSocket();
    // Destroying keeps the stored updates: they are the user's edits.
    void this._idb?.destroy();
    this._idb = null;
    this._ready.reject(new Error(`The provider of ${this._path} was disposed`));
    this._statusChanged.emit(this.status); // the last one: followers learn it is gone
    Signal.clearData(this);
  }

  /** Connect again to the document's own room (after looking at a fork). */
  async reconnect(): Promise<void> {
    if (this._isDisposed || !this._session) {
      return;
    }
    this._closeSocket();
    await this._openStore(this._session);
    this._openSocket(this._roomName(this._session), this._session.sessionId, true);
  }

  /**
   * Show a fork room (JupyterLab's timeline slider). What the fork shows is
   * not stored locally, and acknowledgements are not tracked meanwhile.
   */
  async connectToForkDoc(forkRoomId: string, sessionId: string): Promise<void> {
    this._closeSocket();
    await this._idb?.destroy();
    this._idb = null;
    this._openSocket(forkRoomId, sessionId, false);
  }

  /**
   * Ask the server to write the document to disk now.
   *
   * While disconnected the save waits for the connection to come back (no
   * error dialog: the edits are safe here meanwhile), then asks.
   */
  async save(): Promise<void> {
    if (!this._isDisposed && !(this._ws?.wsconnected && this._ws.synced)) {
      this._savesWaiting++;
      this._emitStatus();
      try {
        while (!this._isDisposed && !(this._ws?.wsconnected && this._ws.synced)) {
          await this._nextStatus();
        }
      } finally {
        this._savesWaiting--;
        this._emitStatus();
      }
    }
    const ws = this._ws?.ws;
    if (this._isDisposed || !ws || ws.readyState !== WebSocket.OPEN) {
      return;
    }
    const id = ++this._saveCounter;
    const delegate = new PromiseDelegate<void>();
    this._saves.set(id, delegate);
    ws.send(encodeSaveRequest(id));
    try {
      await delegate.promise;
    } finally {
      this._saves.delete(id);
    }
  }

  /** Resolves at the next status change (or disposal). */
  private _nextStatus(): Promise<void> {
    return new Promise(resolve => {
      const done = () => {
        this._statusChanged.disconnect(done);
        resolve();
      };
      this._statusChanged.connect(done);
    });
  }

  // -- connecting --------------------------------------------------------------------------

  private async _start(): Promise<void> {
    let session: IDocumentSession | null = null;
    let delay = 500;
    while (!this._isDisposed && session === null) {
      try {
        session = await requestSession(this._path, this.format, this.contentType, this._settings);
      } catch (error) {
        if (error instanceof SessionRefused) {
          this._fail(error.message);
          return;
        }
        // The server is unreachable: it will be back; keep asking, a little less often each time.
        await new Promise(resolve => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, MAX_SESSION_RETRY_MS);
      }
    }
    if (this._isDisposed || session === null) {
      return;
    }
    this._session = session;
    await this._openStore(session);
    if (this._isDisposed) {
      return;
    }
    this._openSocket(this._roomName(session), session.sessionId, true);
  }

  private _roomName(session: IDocumentSession): string {
    return `${session.format}:${session.type}:${session.fileId}`;
  }

  /** Load (and from now on keep) the document's local copy. */
  private async _openStore(session: IDocumentSession): Promise<void> {
    if (this._idb || typeof indexedDB === 'undefined') {
      return;
    }
    // Keyed by the file id (stable across renames, new for a new file at the same path).
    const name = `jupyter-crdt ${this._settings.baseUrl} ${this._roomName(session)}`;
    try {
      const idb = new IndexeddbPersistence(name, this._model.ydoc);
      this._idb = idb;
      await idb.whenSynced;
      const saved = await idb.get(PENDING_KEY);
      if (typeof saved === 'string' && !this._restoredPending) {
        this._restoredPending = true;
        this._pending.restore(JSON.parse(saved) as ISavedEdit[]);
      }
    } catch (error) {
      // Without IndexedDB (private browsing...) edits still survive a lost connection, not a reload.
      console.warn(`jupyter-crdt: no local copy of ${this._path}:`, error);
      this._idb = null;
    }
  }

  private _openSocket(roomName: string, sessionId: string, tracked: boolean): void {
    const params: Record<string, string> = { sessionId };
    const token = this._settings.token;
    if (this._settings.appendToken && token !== '') {
      params['token'] = token;
    }
    const ws = new WebsocketProvider(
      URLExt.join(this._settings.wsUrl, ROOM_URL),
      roomName,
      this._model.ydoc,
      {
        disableBc: true,
        params,
        awareness: this._model.awareness,
        WebSocketPolyfill: this._settings.WebSocket as any
      }
    );
    ws.messageHandlers[JSON_MESSAGE_TYPE] = (_encoder, decoder) => this._onJsonMessage(decoder);
    this._tracked = tracked;
    ws.on('status', this._onSocketStatus);
    ws.on('sync', this._onSync);
    ws.on('connection-close', this._onSocketClose);
    this._ws = ws;
    this._emitStatus();
  }

  private _closeSocket(): void {
    const ws = this._ws;
    if (!ws) {
      return;
    }
    ws.off('status', this._onSocketStatus);
    ws.off('sync', this._onSync);
    ws.off('connection-close', this._onSocketClose);
    ws.destroy();
    this._ws = null;
    this._settleSaves();
    this._emitStatus();
  }

  /** Stop for good: the document cannot be served (no such file, a bad type...). */
  private _fail(problem: string): void {
    this._problem = problem;
    this._ws?.disconnect();
    this._ready.reject(new Error(problem));
    this._emitStatus();
  }

  // -- events ------------------------------------------------------------------------------

  private _onSocketStatus = ({ status }: { status: string }): void => {
    if (status === 'connected' && this._tracked) {
      this._pending.socketOpened();
    }
    if (status === 'disconnected') {
      this._settleSaves();
    }
    this._emitStatus();
  };

  private _onSync = (isSynced: boolean): void => {
    if (isSynced && this._tracked) {
      this._pending.synced();
      if (!this._hasSynced) {
        this._hasSynced = true;
        this._markDocumentId();
        this._ready.resolve();
      }
    }
    this._emitStatus();
  };

  private _onSocketClose = (event: CloseEvent | null): void => {
    if (event && FINAL_CLOSE_CODES.includes(event.code)) {
      this._fail(event.reason || `The server closed ${this._path} (${event.code})`);
    }
    this._emitStatus();
  };

  private _onJsonMessage(decoder: decoding.Decoder): void {
    const message = readServerMessage(decoder);
    if (!message) {
      return;
    }
    if (message.type === 'ack') {
      if (this._tracked) {
        this._pending.acknowledged(message.stateVector);
      }
    } else if (message.type === 'save') {
      const delegate = this._saves.get(message.responseTo);
      if (message.status === 'success') {
        delegate?.resolve();
      } else {
        delegate?.reject(new Error(`Saving ${this._path} ${message.status}`));
      }
    } else if (message.type === 'error') {
      if (message.code === 'read_only' && this._session) {
        // Refused edits will never be acknowledged: counting them would leave the status syncing forever.
        this._session = { ...this._session, readOnly: true };
        this._pending.clear();
      }
      this._problem = message.message || message.code;
      this._emitStatus();
    }
  }

  private _onTransaction = (transaction: Y.Transaction): void => {
    if (this._session?.readOnly) {
      return; // the server refuses them (JupyterLab itself may touch metadata on opening)
    }
    this._pending.recordTransaction(transaction, !!this._ws?.wsconnected);
  };

  private _onPendingChanged(): void {
    // Written on every change: a reload must know which stored edits the server lacks.
    void this._idb?.set(PENDING_KEY, JSON.stringify(this._pending.save())).catch(() => undefined);
    this._emitStatus();
  }

  private _onUserChanged(): void {
    this._model.awareness.setLocalStateField('user', this._user.identity);
  }

  /** What JupyterLab's timeline slider reads to find this provider. */
  private _markDocumentId(): void {
    const state = this._model.ydoc.getMap('state');
    const roomName = this._ws?.roomname;
    if (roomName && state.get('document_id') !== roomName && !this._session?.readOnly) {
      state.set('document_id', roomName);
    }
  }

  /** A save in flight when the socket closes will get no answer: the server saves on its own. */
  private _settleSaves(): void {
    for (const delegate of this._saves.values()) {
      delegate.resolve();
    }
    this._saves.clear();
  }

  private _emitStatus(): void {
    if (!this._isDisposed) {
      this._statusChanged.emit(this.status);
    }
  }

  private _path: string;
  private _model: YDocument<DocumentChange>;
  private _settings: ServerConnection.ISettings;
  private _user: User.IManager;
  private _ready = new PromiseDelegate<void>();
  private _isDisposed = false;
  private _hasSynced = false;
  private _restoredPending = false;
  private _tracked = true;
  private _problem = '';
  private _session: IDocumentSession | null = null;
  private _ws: WebsocketProvider | null = null;
  private _idb: IndexeddbPersistence | null = null;
  private _pending = new PendingEdits();
  private _saveCounter = 0;
  private _savesWaiting = 0;
  private _saves = new Map<number, PromiseDelegate<void>>();
  private _statusChanged = new Signal<this, ISyncStatus>(this);
}

/** The namespace of {@link CrdtDocumentProvider}. */
export namespace CrdtDocumentProvider {
  /** What a provider is made from. */
  export interface IOptions {
    /** The document's path (contents API). */
    path: string;
    /** 'notebook', 'file'... */
    contentType: string;
    /** 'json', 'text'... */
    format: string;
    /** The shared model to keep in sync. */
    model: YDocument<DocumentChange>;
    /** The current user (name and color for presence). */
    user: User.IManager;
    /** The server to connect to (the default settings if omitted). */
    serverSettings?: ServerConnection.ISettings;
  }
}
