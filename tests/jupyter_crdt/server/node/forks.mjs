// JupyterLab's own fork client against our server: @jupyter/docprovider's ForkManager, fed by
// @jupyterlab/services' EventManager (the websocket /api/events/subscribe), as JupyterLab wires them.
//
// Usage: node forks.mjs BASE_URL TOKEN ROOT_ROOM_ID
// Creates a fork of ROOT_ROOM_ID, waits for ForkManager's forkAdded signal, lists the forks, deletes the
// fork, waits for forkDeleted, lists again. Prints JSON lines on stdout ({"event": ...}); errors go to
// stderr and exit 1. Every wait is bounded (WAIT_MS).
import { register } from 'node:module';
import WebSocket from 'ws';

// @jupyter/docprovider's lib/ imports './requests' without an extension (written for bundlers).
register('./extensionless.mjs', import.meta.url);
const { EventManager, ServerConnection } = await import('@jupyterlab/services');
const { ForkManager } = await import('@jupyter/docprovider/lib/forkManager.js');

const [baseUrl, token, rootId] = process.argv.slice(2);
const WAIT_MS = 20000;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

function waitFor(what, subscribe) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
    subscribe((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

const serverSettings = ServerConnection.makeSettings({
  baseUrl,
  wsUrl: baseUrl.replace(/^http/, 'ws'),
  token,
  appendToken: true,
  WebSocket,
});
const eventManager = new EventManager({ serverSettings, standby: 'never' });

// The subscription is live once an event we post comes back through it (the server's event bus
// delivers only to sockets it has registered): without this, the fork event could be missed.
const AWARENESS = 'https://schema.jupyter.org/jupyter_collaboration/awareness/v1';
const probe = { roomid: `probe-${process.pid}`, username: 'probe', action: 'join' };
const live = waitFor('the event subscription', (done) => {
  eventManager.stream.connect((_, e) => {
    if (e.schema_id === AWARENESS && e.roomid === probe.roomid) done();
  });
});
const deadline = Date.now() + WAIT_MS;
let subscribed = false;
live.then(() => { subscribed = true; }, () => {});
while (!subscribed && Date.now() < deadline) {
  try {
    await eventManager.emit({ schema_id: AWARENESS, version: '1', data: probe });
  } catch (error) {
    process.stderr.write(`probe: ${error}\n`);
  }
  await Promise.race([live, new Promise((r) => setTimeout(r, 200))]).catch(() => {});
}
await live;
out({ event: 'subscribed' });

const forkManager = new ForkManager({ serverSettings, eventManager });
const added = waitFor('forkAdded', (done) => forkManager.forkAdded.connect((_, e) => done(e)));
const deleted = waitFor('forkDeleted', (done) => forkManager.forkDeleted.connect((_, e) => done(e)));

try {
  const created = await forkManager.createFork({
    rootId,
    title: 'my fork',
    description: 'made by ForkManager',
    synchronize: true,
  });
  out({ event: 'created', response: created });
  out({ event: 'forkAdded', emission: await added });
  out({ event: 'listed', forks: await forkManager.getAllForks(rootId) });
  await forkManager.deleteFork({ forkId: created.fork_roomid, merge: false });
  out({ event: 'forkDeleted', emission: await deleted });
  out({ event: 'listed', forks: await forkManager.getAllForks(rootId) });
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exitCode = 1;
} finally {
  forkManager.dispose();
  eventManager.dispose();
}
process.exit();
