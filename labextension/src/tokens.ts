/**
 * The service our plugins share: the open documents' providers and whether
 * the server answers at all.
 */
import { Token } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';

import { CrdtDocumentProvider } from './provider';

/** The open documents' providers and the server's reachability. */
export interface ICrdtSync {
  /** The provider keeping `sharedModel` in sync, if there is one. */
  providerFor(sharedModel: unknown): CrdtDocumentProvider | undefined;
  /** Every open provider. */
  readonly providers: ReadonlyArray<CrdtDocumentProvider>;
  /** Emitted when a provider is added or removed, or one's state changes. */
  readonly changed: ISignal<ICrdtSync, void>;
  /** False after JupyterLab lost the server, until it answers again. */
  readonly serverReachable: boolean;
}

/** The token of the {@link ICrdtSync} service. */
export const ICrdtSync = new Token<ICrdtSync>(
  'jupyter-crdt:ICrdtSync',
  'The open documents of jupyter-crdt rooms and their sync states.'
);

/** The implementation of {@link ICrdtSync}. */
export class CrdtSync implements ICrdtSync {
  providerFor(sharedModel: unknown): CrdtDocumentProvider | undefined {
    return this._providers.find(p => p.model === sharedModel && !p.isDisposed);
  }

  get providers(): ReadonlyArray<CrdtDocumentProvider> {
    return this._providers;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get serverReachable(): boolean {
    return this._serverReachable;
  }
  set serverReachable(value: boolean) {
    if (value !== this._serverReachable) {
      this._serverReachable = value;
      this._changed.emit();
    }
  }

  /** Follow a new provider until it is disposed. */
  add(provider: CrdtDocumentProvider): void {
    this._providers.push(provider);
    provider.statusChanged.connect(this._onProviderChanged, this);
    this._changed.emit();
  }

  private _onProviderChanged(provider: CrdtDocumentProvider): void {
    if (provider.isDisposed) {
      this._providers = this._providers.filter(p => p !== provider);
    } else if (provider.status.state !== 'offline') {
      // A socket is open: whatever JupyterLab lost, the server is back.
      this._serverReachable = true;
    }
    this._changed.emit();
  }

  private _providers: CrdtDocumentProvider[] = [];
  private _serverReachable = true;
  private _changed = new Signal<this, void>(this);
}
