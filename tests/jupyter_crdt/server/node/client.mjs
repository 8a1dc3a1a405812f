// A collaboration client nobody on this project wrote: JupyterLab's own pieces from npm.
// y-websocket's WebsocketProvider (the version @jupyter/docprovider bundles) syncs a @jupyter/ydoc
// YNotebook with a room of our server; the edits go through YNotebook's API, as JupyterLab makes them.
//
// Usage: node client.mjs WS_URL ROOM SESSION_ID TOKEN NAME EDITS
// Prints JSON lines on stdout: {"event":"synced"}, then {"event":"edited"} after its EDITS edits.
// Reads commands from stdin, one per line: "dump" prints {"event":"dump","notebook":...},
// "exit" disconnects and exits. Errors go to stderr; every wait is bounded by the caller.
import { YNotebook } from '@jupyter/ydoc';
import readline from 'node:readline';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';

const [url, room, sessionId, token, name, editsArg] = process.argv.slice(2);
const edits = Number(editsArg);
const notebook = new YNotebook();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const provider = new WebsocketProvider(url, room, notebook.ydoc, {
  WebSocketPolyfill: WebSocket,
  params: { sessionId, token },
  awareness: notebook.awareness,
  disableBc: true,
});
provider.on('connection-close', (event) => {
  if (event) process.stderr.write(`closed ${event.code} ${event.reason}\n`);
});

let seed = 12345;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

async function edit() {
  for (let i = 0; i < edits; i++) {
    const n = notebook.cells.length;
    const r = random();
    if (r < 0.1 || n === 0) {
      notebook.insertCell(Math.floor(random() * (n + 1)), {
        cell_type: 'code',
        source: `# cell from ${name} ${i}\n`,
        metadata: {},
      });
    } else if (r < 0.2) {
      const cell = notebook.getCell(Math.floor(random() * n));
      cell.setMetadata({ ...cell.getMetadata(), [`${name}_key`]: i });
    } else {
      const cell = notebook.getCell(Math.floor(random() * n));
      const source = cell.getSource();
      const lineStarts = [0];
      for (let k = 0; k < source.length; k++) if (source[k] === '\n') lineStarts.push(k + 1);
      const at = lineStarts[Math.floor(random() * lineStarts.length)];
      cell.updateSource(at, at, `<${name}${i}>\n`);
    }
    await tick();
  }
}

provider.once('synced', async () => {
  out({ event: 'synced', cells: notebook.cells.length });
  await edit();
  out({ event: 'edited' });
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const command = line.trim();
  if (command === 'dump') {
    out({ event: 'dump', notebook: notebook.toJSON() });
  } else if (command === 'exit') {
    provider.destroy();
    process.exit(0);
  }
});
