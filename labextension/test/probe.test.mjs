// Unit tests of the connection probe (src/probe.ts): it backs off on every kind of failure, network
// errors and HTTP error answers (502 from a proxy, 403) alike, and stops once the server answers.
// Run: jlpm test (builds lib/ first).
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { ServerConnection } from '@jupyterlab/services';

import { MAX_PROBE_DELAY_MS, probeUntilReachable, serverAnswers } from '../lib/probe.js';

/** A probe on a fake clock: records every wait, answers from `answers` (a value, or an Error to throw). */
async function probeWith(answers, stop = () => false) {
  const waits = [];
  let requests = 0;
  const reached = await probeUntilReachable({
    sleep: async ms => { waits.push(ms); },
    stop,
    check: async () => {
      const answer = answers[Math.min(requests++, answers.length - 1)];
      if (answer instanceof Error) {
        throw answer;
      }
      return answer;
    }
  });
  return { reached, waits, requests };
}

test('HTTP error answers back off like network errors, up to the longest wait', async () => {
  const failures = Array(8).fill(false);
  for (const answers of [[...failures, true], [...failures.map(() => new TypeError('fetch failed')), true]]) {
    const { reached, waits, requests } = await probeWith(answers);
    assert.equal(reached, true);
    assert.equal(requests, 9);
    assert.deepEqual(waits, [1000, 2000, 4000, 8000, 10000, 10000, 10000, 10000, 10000]);
    assert.equal(Math.max(...waits), MAX_PROBE_DELAY_MS);
  }
});

test('a mix of failures keeps backing off; stop() ends the probe without another request', async () => {
  let calls = 0;
  const { reached, waits, requests } = await probeWith(
    [false, new Error('offline'), false, false], () => ++calls > 4);
  assert.equal(reached, false);
  assert.equal(requests, 4);
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 10000]);
});

test('against a server answering 502, then 403: few requests in a bounded window, then found back', async () => {
  let status = 502;
  const times = [];
  const server = http.createServer((req, res) => {
    if (new URL(req.url, 'http://x').pathname === '/api/status') {
      times.push(Date.now());
    }
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(status === 200 ? '{"started": "now"}' : '{"message": "Bad Gateway"}');
  });
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
  try {
    const settings = ServerConnection.makeSettings({
      baseUrl: `http://127.0.0.1:${server.address().port}/`, wsUrl: 'ws://127.0.0.1:1/'
    });
    // scaled down 50 times: waits of 20, 40, 80, 160, 200, 200... ms
    const probe = probeUntilReachable({ check: () => serverAnswers(settings), firstDelay: 20, maxDelay: 200 });
    const windowMs = 1500;
    await new Promise(resolve => setTimeout(resolve, windowMs / 2));
    status = 403;
    await new Promise(resolve => setTimeout(resolve, windowMs / 2));
    const inWindow = times.length;
    // without backing off on error answers: one request every 20 ms, about 75 in the window
    assert.ok(inWindow >= 4 && inWindow <= 12, `${inWindow} requests in ${windowMs} ms`);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.ok(gaps.slice(3).every(gap => gap >= 150), `gaps ${gaps}`);
    status = 200;
    const found = await Promise.race([
      probe, new Promise(resolve => setTimeout(() => resolve('timeout'), 5000))]);
    assert.equal(found, true);
  } finally {
    server.close();
  }
});
