/**
 * The server's JSON channel: y-websocket message type 2 carrying a varstring.
 *
 * The jupyter-crdt server uses it for save requests and replies, durable
 * acknowledgements and refusals (docs/rest-api.md):
 *
 * - client → server: varstring `"save"`, varuint id
 * - server → client: `{"type": "save", "responseTo": id, "status": ...}`,
 *   `{"type": "ack", "stateVector": "<base64 v1 state vector>"}`,
 *   `{"type": "error", "code": "read_only", "message": ...}`
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';

/** The outer y-websocket message type of the JSON channel. */
export const JSON_MESSAGE_TYPE = 2;

/** A message the server sends on the JSON channel. */
export type ServerMessage =
  | { type: 'ack'; stateVector: Map<number, number> }
  | { type: 'save'; responseTo: number; status: string }
  | { type: 'error'; code: string; message: string }
  | { type: 'other'; payload: unknown };

/**
 * Read the body of a type-2 message (the decoder is past the message type).
 *
 * Returns null for anything that is not JSON: such a message means nothing to
 * us, and must not break the connection.
 */
export function readServerMessage(decoder: decoding.Decoder): ServerMessage | null {
  let payload: any;
  try {
    payload = JSON.parse(decoding.readVarString(decoder));
  } catch {
    return null;
  }
  if (!payload || typeof payload !== 'object') {
    return null;
  }
  if (payload.type === 'ack' && typeof payload.stateVector === 'string') {
    try {
      return { type: 'ack', stateVector: decodeStateVector(payload.stateVector) };
    } catch {
      return null;
    }
  }
  if (payload.type === 'save' && typeof payload.responseTo === 'number') {
    return { type: 'save', responseTo: payload.responseTo, status: String(payload.status) };
  }
  if (payload.type === 'error') {
    return { type: 'error', code: String(payload.code), message: String(payload.message ?? '') };
  }
  return { type: 'other', payload };
}

/** A complete "save now" request, ready to send on the websocket. */
export function encodeSaveRequest(id: number): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, JSON_MESSAGE_TYPE);
  encoding.writeVarString(encoder, 'save');
  encoding.writeVarUint(encoder, id);
  return encoding.toUint8Array(encoder);
}

/** Decode a base64 Yjs v1 state vector into client id → clock. */
export function decodeStateVector(base64: string): Map<number, number> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return Y.decodeStateVector(bytes);
}
