/**
 * Edits made here that the server has not yet acknowledged as durable.
 *
 * An edit is one local transaction that changed the document. The server
 * acknowledges with its state vector once the updates it received from us
 * are written to the history: an edit that inserted content is acknowledged
 * once a vector covering its last clock comes back. A transaction that only
 * deleted content advances no clock, so a vector cannot cover it: it counts
 * as acknowledged by the first acknowledgement that arrives after it was sent.
 *
 * Edits made while disconnected travel in our sync step 2 when the socket
 * opens again. The server answers our step 1 only after it has applied (and
 * journaled) that step 2, so they count as acknowledged once that sync
 * completes.
 */
import { ISignal, Signal } from '@lumino/signaling';
import * as Y from 'yjs';

/** One unacknowledged edit. */
interface IPendingEdit {
  /** Order of the edit among this tracker's edits. */
  seq: number;
  /** The client id the edit was made with (an earlier page load has another). */
  client: number;
  /** That client's clock after the edit. */
  clock: number;
  /** Whether the edit only deleted content (no clock to compare). */
  deleteOnly: boolean;
  /** Whether the edit was sent on an open socket when it was made. */
  sentLive: boolean;
}

/** The persisted form of an edit (what survives a page reload). */
export interface ISavedEdit {
  client: number;
  clock: number;
  deleteOnly: boolean;
}

/** Tracks the local edits of one document until the server acknowledges them. */
export class PendingEdits {
  /** The number of edits not yet acknowledged. */
  get count(): number {
    return this._edits.length;
  }

  /** Emitted when the count changes. */
  get changed(): ISignal<this, number> {
    return this._changed;
  }

  /** The edits, in the form {@link restore} takes back. */
  save(): ISavedEdit[] {
    return this._edits.map(({ client, clock, deleteOnly }) => ({ client, clock, deleteOnly }));
  }

  /**
   * Take back edits saved by an earlier page load. They were made before any
   * socket of this page opened, so the next completed sync carries them.
   */
  restore(saved: ISavedEdit[]): void {
    const restored = saved
      .filter(e => Number.isInteger(e.client) && Number.isInteger(e.clock))
      .map(e => ({ ...e, deleteOnly: !!e.deleteOnly, seq: ++this._seq, sentLive: false }));
    this._edits = restored.concat(this._edits);
    this._emit();
  }

  /**
   * Record a transaction if it was a local edit.
   *
   * @param transaction - A finished Yjs transaction.
   * @param live - Whether the socket is open, so the edit is sent right now.
   */
  recordTransaction(transaction: Y.Transaction, live: boolean): void {
    if (!transaction.local) {
      return; // remote updates and updates loaded from IndexedDB are not our edits
    }
    const client = transaction.doc.clientID;
    const before = transaction.beforeState.get(client) ?? 0;
    const after = transaction.afterState.get(client) ?? 0;
    const deleted = transaction.deleteSet.clients.size > 0;
    if (after === before && !deleted) {
      return; // nothing changed
    }
    this._edits.push({
      seq: ++this._seq,
      client,
      clock: after,
      deleteOnly: after === before,
      sentLive: live
    });
    this._emit();
  }

  /** The socket opened: every edit so far travels in our sync step 2. */
  socketOpened(): void {
    this._syncMark = this._seq;
  }

  /** The server answered our sync step 1: it holds every edit our step 2 carried. */
  synced(): void {
    this._drop(e => e.seq <= this._syncMark);
  }

  /** The server acknowledged durable updates with its state vector. */
  acknowledged(stateVector: Map<number, number>): void {
    this._drop(e =>
      e.deleteOnly ? e.sentLive : (stateVector.get(e.client) ?? 0) >= e.clock
    );
  }

  /** Forget every edit: the server will never take them (a read-only document). */
  clear(): void {
    this._drop(() => true);
  }

  private _drop(acknowledged: (edit: IPendingEdit) => boolean): void {
    const before = this._edits.length;
    this._edits = this._edits.filter(e => !acknowledged(e));
    if (this._edits.length !== before) {
      this._emit();
    }
  }

  private _emit(): void {
    this._changed.emit(this._edits.length);
  }

  private _edits: IPendingEdit[] = [];
  private _seq = 0;
  private _syncMark = 0;
  private _changed = new Signal<this, number>(this);
}
