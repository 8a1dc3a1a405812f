/**
 * The server's history endpoints under `/api/crdt/` (docs/rest-api.md).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** One change of a document's history. */
export interface IChange {
  /** Position in the log, from 1 (the content loaded from disk). */
  seq: number;
  /** The change's hash. */
  id?: string;
  /** A jupyter_server username, `disk` or `server`. */
  author: string;
  /** Seconds since the epoch. */
  time: number;
  /** What the change did, in words. */
  summary?: string;
  /** Bytes of the change's update. */
  size: number;
}

/** One cell of a diff. */
export interface ICellDiff {
  id: string;
  /** added, removed, modified... */
  status: string;
  /** The source's diff, as text. */
  diff: string;
  cell_type?: string;
}

async function request<T>(
  settings: ServerConnection.ISettings,
  what: string,
  path: string,
  query = '',
  init: RequestInit = {}
): Promise<T> {
  const url =
    URLExt.join(settings.baseUrl, 'api/crdt', what, URLExt.encodeParts(path)) + query;
  const response = await ServerConnection.makeRequest(url, init, settings);
  if (!response.ok) {
    let message = response.statusText;
    try {
      message = (await response.json()).message ?? message;
    } catch {
      // not JSON: the status text says enough
    }
    throw new ServerConnection.ResponseError(response, message);
  }
  return (await response.json()) as T;
}

/** The document's changes, oldest first. */
export async function fetchLog(
  settings: ServerConnection.ISettings,
  path: string
): Promise<IChange[]> {
  const body = await request<{ changes: IChange[] }>(settings, 'log', path);
  return body.changes;
}

/** The document as it was after change `seq` (a notebook as nbformat JSON, a text as a string). */
export async function fetchVersion(
  settings: ServerConnection.ISettings,
  path: string,
  seq: number
): Promise<unknown> {
  const body = await request<{ content: unknown }>(settings, 'show', path, `?seq=${seq}`);
  return body.content;
}

/** What changed in each cell from change `seq` to now (notebooks only). */
export async function fetchDiff(
  settings: ServerConnection.ISettings,
  path: string,
  seq: number
): Promise<ICellDiff[]> {
  const body = await request<{ cells: ICellDiff[] }>(settings, 'diff', path, `?from=${seq}`);
  return body.cells;
}

/** What a restore did. */
export interface IRestored {
  /** False when the document already was that version (nothing changed); absent from older servers. */
  changed?: boolean;
}

/** Make the document what it was after change `seq` (a new change; nothing is lost). */
export async function restoreVersion(
  settings: ServerConnection.ISettings,
  path: string,
  seq: number
): Promise<IRestored> {
  const body = await request<IRestored | null>(settings, 'restore', path, '', {
    method: 'POST',
    body: JSON.stringify({ seq })
  });
  return body ?? {};
}
