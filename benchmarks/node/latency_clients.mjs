// Typing clients for benchmarks/server_latency.py, built on Yjs + y-protocols (not on our engine).
//
// Usage: node latency_clients.mjs CONFIG_JSON
//   CONFIG_JSON: {"http": "http://127.0.0.1:PORT", "ws": "ws://127.0.0.1:PORT", "token": "...",
//                 "path": "bench.ipynb", "total": N, "indices": [i, ...], "client_id_base": B,
//                 "rate": 5, "edits": E, "connect_timeout": s, "drain_timeout": s, "results_path": "..."}
//
// Each client i of `indices` opens the notebook like JupyterLab does (PUT /api/collaboration/session/PATH,
// then the room's websocket with y-websocket framing), and once told to start types one character per
// edit, `rate` edits a second, at the end of cell i's source. Its Yjs clientID is B + i, so the k-th edit
// of client i is exactly item (B + i, k): a receiver knows which edits arrived from its document's state
// vector alone, without decoding updates. Times are process.hrtime (CLOCK_MONOTONIC, shared by every
// process of the machine), in ms, so the Python side can join sends and arrivals across processes.
//
// Protocol on stdout, one JSON object per line:
//   {"event": "ready", "cells": n}     every client is synced and sees its cell
//   stdin "go T0"                       start typing; client i's edit k is due at T0 + (i/N + k) / rate
//   {"event": "done"}                   typing ended and every edit arrived everywhere (or drain timeout);
//                                       the sends, arrivals and final digests are in results_path
// Errors go to stderr and exit with status 1; every wait is bounded.
import crypto from 'node:crypto';
import fs from 'node:fs';
import readline from 'node:readline';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import * as sync from 'y-protocols/sync';
import * as Y from 'yjs';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const { total, indices, rate, edits } = config;
const base = config.client_id_base;
const period = 1000 / rate;
const TYPED = 'x';
const MESSAGE_SYNC = 0;
const REMOTE = 'remote';

const now = () => Number(process.hrtime.bigint()) / 1e6;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const fail = (msg) => {
  process.stderr.write(`latency_clients: ${msg}\n`);
  process.exit(1);
};
const round = (t) => Math.round(t * 1000) / 1000;

class Client {
  constructor(index) {
    this.index = index;
    this.doc = new Y.Doc();
    this.doc.clientID = base + index;
    this.synced = false;
    this.sends = [];
    // arrivals[sender][k]: when edit k of sender became part of this client's document
    this.arrivals = new Map();
    this.received = 0;
    this.expected = (total - 1) * edits;
    this.doc.on('update', (update, origin) => {
      if (origin === REMOTE || this.ws === undefined) return;
      const enc = encoding.createEncoder();
      encoding.writeVarUint(enc, MESSAGE_SYNC);
      sync.writeUpdate(enc, update);
      this.ws.send(encoding.toUint8Array(enc));
    });
    this.doc.on('afterTransaction', (tr) => {
      if (tr.local) return;
      const t = now();
      for (const [client, clock] of tr.afterState) {
        const sender = client - base;
        if (sender < 0 || sender >= total || sender === this.index) continue;
        const before = tr.beforeState.get(client) || 0;
        if (clock <= before) continue;
        let times = this.arrivals.get(sender);
        if (times === undefined) {
          times = new Array(edits).fill(null);
          this.arrivals.set(sender, times);
        }
        for (let k = before; k < clock && k < edits; k++) {
          times[k] = t;
          this.received += 1;
        }
      }
    });
  }

  async connect() {
    const headers = { Authorization: `token ${config.token}`, 'Content-Type': 'application/json' };
    const res = await fetch(`${config.http}/api/collaboration/session/${config.path}`, {
      method: 'PUT', headers, body: JSON.stringify({ format: 'json', type: 'notebook' }),
      signal: AbortSignal.timeout(config.connect_timeout * 1000),
    });
    if (res.status !== 200 && res.status !== 201) fail(`session PUT answered ${res.status}`);
    const session = await res.json();
    const room = `${session.format}:${session.type}:${session.fileId}`;
    const url = `${config.ws}/api/collaboration/room/${room}?sessionId=${encodeURIComponent(session.sessionId)}`;
    // no permessage-deflate: neither server enables it (jupyter_server's default), so it is never in play
    this.ws = new WebSocket(url, {
      headers: { Authorization: `token ${config.token}` },
      perMessageDeflate: false,
    });
    this.ws.binaryType = 'nodebuffer';
    this.ws.on('open', () => {
      const enc = encoding.createEncoder();
      encoding.writeVarUint(enc, MESSAGE_SYNC);
      sync.writeSyncStep1(enc, this.doc);
      this.ws.send(encoding.toUint8Array(enc));
    });
    this.ws.on('message', (data) => this.onMessage(new Uint8Array(data)));
    this.ws.on('close', (code, reason) => {
      if (!this.closing) fail(`client ${this.index}: websocket closed ${code} ${reason}`);
    });
    this.ws.on('error', (err) => fail(`client ${this.index}: ${err.message}`));
  }

  onMessage(message) {
    const dec = decoding.createDecoder(message);
    if (decoding.readVarUint(dec) !== MESSAGE_SYNC) return; // awareness and the JSON channel: not needed
    const enc = encoding.createEncoder();
    encoding.writeVarUint(enc, MESSAGE_SYNC);
    const kind = sync.readSyncMessage(dec, enc, this.doc, REMOTE);
    if (encoding.length(enc) > 1) this.ws.send(encoding.toUint8Array(enc));
    if (kind === sync.messageYjsSyncStep2) this.synced = true;
  }

  ready() {
    return this.synced && this.doc.getArray('cells').length > this.index;
  }

  source() {
    return this.doc.getArray('cells').get(this.index).get('source');
  }

  type(k) {
    this.sends[k] = now();
    const text = this.source();
    text.insert(text.length, TYPED);
  }

  digest() {
    const sources = this.doc.getArray('cells').toArray().map((cell) => cell.get('source').toString());
    return crypto.createHash('sha256').update(JSON.stringify(sources)).digest('hex');
  }

  close() {
    this.closing = true;
    this.ws.terminate();
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate, seconds, what) {
  const deadline = now() + seconds * 1000;
  while (!predicate()) {
    if (now() > deadline) return false;
    await sleep(what === 'drain' ? 5 : 20);
  }
  return true;
}

async function typing(client, t0) {
  const offset = (client.index / total) * period;
  for (let k = 0; k < edits; k++) {
    const due = t0 + offset + k * period;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    client.type(k);
  }
}

const clients = indices.map((i) => new Client(i));
await Promise.all(clients.map((c) => c.connect())).catch((err) => fail(`connect: ${err.message}`));
if (!(await waitFor(() => clients.every((c) => c.ready()), config.connect_timeout, 'sync'))) {
  fail(`not synced after ${config.connect_timeout}s: ${clients.filter((c) => !c.ready()).map((c) => c.index)}`);
}
out({ event: 'ready', cells: clients[0].doc.getArray('cells').length });

const go = await new Promise((resolve) => {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [command, t0] = line.trim().split(' ');
    if (command === 'go') {
      resolve(Number(t0));
      rl.close();
    }
  });
  rl.on('close', () => resolve(null));
});
if (go === null) fail('stdin closed before "go"');

const cpuBefore = process.cpuUsage();
await Promise.all(clients.map((c) => typing(c, go)));
const typedAt = now();
const drained = await waitFor(() => clients.every((c) => c.received >= c.expected), config.drain_timeout, 'drain');
const cpu = process.cpuUsage(cpuBefore);
// the arrivals are megabytes: a file, written synchronously (a pipe write may not finish before exit)
fs.writeFileSync(config.results_path, JSON.stringify({
  drained,
  typing_ms: round(typedAt - go),
  drain_ms: round(now() - typedAt),
  cpu_s: (cpu.user + cpu.system) / 1e6,
  sends: Object.fromEntries(clients.map((c) => [c.index, c.sends.map(round)])),
  arrivals: Object.fromEntries(clients.map((c) => [c.index, Object.fromEntries(
    [...c.arrivals].map(([sender, times]) => [sender, times.map((t) => (t === null ? null : round(t)))]),
  )])),
  digests: Object.fromEntries(clients.map((c) => [c.index, c.digest()])),
}));
for (const c of clients) c.close();
process.stdout.write(JSON.stringify({ event: 'done' }) + '\n', () => process.exit(0));
