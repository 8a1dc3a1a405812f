/**
 * The collaboration session request: which room a document lives in.
 *
 * `PUT /api/collaboration/session/{path}` answers
 * `{format, type, fileId, sessionId, readOnly}` (docs/rest-api.md).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The server's answer to a session request. */
export interface IDocumentSession {
  format: string;
  type: string;
  fileId: string;
  sessionId: string;
  /** True when this user may only read the document (or the file is not writable). */
  readOnly: boolean;
}

/** The server answered, and the answer is final (no such file, bad type...): retrying will not help. */
export class SessionRefused extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

/**
 * Ask the server for the session of a document.
 *
 * @throws {SessionRefused} when the server refuses (4xx); any other error
 *   (network, 5xx) is worth retrying.
 */
export async function requestSession(
  path: string,
  format: string,
  type: string,
  settings: ServerConnection.ISettings
): Promise<IDocumentSession> {
  const url = URLExt.join(
    settings.baseUrl,
    'api/collaboration/session',
    URLExt.encodeParts(path)
  );
  const response = await ServerConnection.makeRequest(
    url,
    { method: 'PUT', body: JSON.stringify({ format, type }) },
    settings
  );
  if (response.status >= 400 && response.status < 500) {
    throw new SessionRefused(
      `The server refused a session for ${path} (${response.status})`,
      response.status
    );
  }
  if (!response.ok) {
    throw new Error(`Session request for ${path} failed (${response.status})`);
  }
  const body = await response.json();
  return {
    format: String(body.format),
    type: String(body.type),
    fileId: String(body.fileId),
    sessionId: String(body.sessionId),
    readOnly: body.readOnly === true
  };
}
