// Scenario 5: the server is stopped and started again while alice's and bob's pages stay open. They
// type before, while the server is down, and after it is back: every edit arrives once, no cell is
// duplicated. alice types in the first cell, bob in the second.
import { ask } from '../lib/protocol.mjs';
import { User, waitConverged } from '../lib/user.mjs';

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const [alice, bob] = await Promise.all(
    ['alice', 'bob'].map(name => User.open(browser, { name, baseUrl, path: notebook })));
  const t0 = Date.now();
  const timeline = []; // [phase, ms since the pages were open]: where the time goes
  const start = await alice.cells();
  const typed = { alice: [], bob: [] };
  const total = () => start.reduce((n, cell) => n + cell.source.length, 0) +
    [...typed.alice, ...typed.bob].reduce((n, text) => n + text.length, 0);
  const length = cells => cells.reduce((n, cell) => n + cell.source.length, 0);

  async function bothType(phase) {
    typed.alice.push(` alice ${phase}`);
    typed.bob.push(` bob ${phase}`);
    await Promise.all([alice.type(typed.alice.at(-1)), bob.type(typed.bob.at(-1))]);
  }

  await alice.clickLineEnd(0, 0);
  await bob.clickLineEnd(1, 0);
  await bothType('before');
  await waitConverged([alice, bob], cells => length(cells) === total(), 'the edits made before the restart');
  timeline.push(['stop', Date.now() - t0]);
  await ask('stop-server');
  // Each user's JupyterLab says so (our status bar item, or the stock modal dialog, which they close);
  // then they click back where they were typing.
  const toldBy = {};
  await Promise.all([alice, bob].map(async user => {
    toldBy[user.name] = await user.noticeServerGone();
  }));
  await alice.clickLineEnd(0, 0);
  await bob.clickLineEnd(1, 0);
  await bothType('while the server is down');
  timeline.push(['start', Date.now() - t0]);
  await ask('start-server');
  await waitConverged([alice, bob], cells => length(cells) >= total(),
    'the edits made while the server was down');
  timeline.push(['after', Date.now() - t0]);
  await bothType('after');
  const cells = await waitConverged([alice, bob], cells => length(cells) >= total(), 'all edits');
  const editors = { alice: await alice.editorTexts(), bob: await bob.editorTexts() };
  timeline.push(['reload', Date.now() - t0]);
  await Promise.all([alice.reload(), bob.reload()]);
  const reloaded = { alice: await alice.cells(), bob: await bob.cells() };
  timeline.push(['end', Date.now() - t0]);
  await Promise.all([alice.close(), bob.close()]);
  return { start, typed, cells, editors, reloaded, toldBy, timeline };
}
