// One cold open of a notebook in JupyterLab, timed from navigation start (the page's
// performance.timeOrigin). Used by benchmarks/browser_open.py, the same way for every server.
//
//   node open_notebook.mjs CONFIG.json
//
// CONFIG: {url, path, firstLine, marker, savedFile, timeoutMs, crdtStatus}. Prints one JSON line:
//   visible_ms  every cell's widget is in the page, and the first cell is on screen showing `firstLine`
//   typed_ms    `marker`, typed into the first cell (click, End, keys), shows in its editor
//   saved_ms    after Accel-S, the file on the server's disk holds `marker` (the edit reached the server)
//   synced_ms   ours only (crdtStatus): our status item says connected with nothing pending, after typing
// Every wait has a deadline (timeoutMs); nothing sleeps for a fixed time except the file poll interval.
import fs from 'node:fs';
import process from 'node:process';
import { setTimeout as delay } from 'node:timers/promises';

import { launchChromium } from '../../tests/e2e/lib/browser.mjs';

const IN_PAGE = fs.readFileSync(new URL('../../tests/e2e/lib/in_page.js', import.meta.url), 'utf8');

/** How often the page (and the saved file) is checked; bounds the timing error of each figure. */
const POLL_MS = 25;

/** Wait until the saved file holds `marker`; returns the epoch ms when it did. */
async function waitSaved(file, marker, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      // written by the server with a rename or truncate: read it again next poll
    }
    if (text.includes(marker)) {
      return Date.now();
    }
    if (Date.now() > deadline) {
      throw new Error(`the saved file never held the typed text within ${timeoutMs} ms`);
    }
    await delay(POLL_MS);
  }
}

/** `predicate(arg)` in the page until it returns a truthy value (returned), or fail naming `what`. */
async function until(page, predicate, arg, what, timeoutMs) {
  try {
    const handle = await page.waitForFunction(predicate, arg, { timeout: timeoutMs, polling: POLL_MS });
    return await handle.jsonValue();
  } catch (error) {
    const dialogs = await page.locator('.jp-Dialog').allInnerTexts().catch(() => []);
    throw new Error(`gave up waiting for ${what}` +
      (dialogs.length ? ` (dialog: ${JSON.stringify(dialogs)})` : '') + `: ${error.message}`);
  }
}

async function measure(config) {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addInitScript({ content: IN_PAGE });
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', error => pageErrors.push(String(error)));
    const timeout = config.timeoutMs;

    await page.goto(config.url, { waitUntil: 'commit', timeout });
    const origin = await page.evaluate(() => performance.timeOrigin);

    // (a) visible: every cell has its widget, and the first one is on screen showing its text.
    const visible = await until(page, ([path, firstLine]) => {
      if (!window.e2e.ready(path)) {
        return false;
      }
      const widgets = window.e2e.panel(path).content.widgets;
      const first = widgets[0].node;
      const box = first.getBoundingClientRect();
      // With JupyterLab's default windowing ('contentVisibility') every cell is in the DOM, and the
      // browser skips painting those off screen: the last cell attached is as rendered as it gets.
      return widgets[widgets.length - 1].node.isConnected && box.height > 0 && box.top < window.innerHeight &&
        first.textContent.includes(firstLine) ? { at: performance.now(), cells: widgets.length } : false;
    }, [config.path, config.firstLine], 'the notebook to show', timeout);

    // (b) editable: the user clicks the first line, goes to its end and types.
    const firstLine = page.locator('.jp-NotebookPanel .jp-Notebook .jp-Cell').first()
      .locator('.cm-content .cm-line').first();
    await firstLine.click({ timeout });
    await page.keyboard.press('End');
    await page.keyboard.type(config.marker);
    const typed = await until(page, ([path, marker]) => {
      const texts = window.e2e.editorTexts(path);
      return texts && texts[0] && texts[0].includes(marker) ? performance.now() : false;
    }, [config.path, config.marker], 'the typed text in the editor', timeout);

    // ... and it reaches the server: saved (Accel-S, as a user would) to the file on disk.
    const synced = config.crdtStatus ? until(page, () => {
      const item = document.getElementById('jp-crdt-status');
      return item && item.dataset.state === 'connected' && Number(item.dataset.pending) === 0
        ? performance.now() : false;
    }, null, 'our status item to say connected, nothing pending', timeout) : Promise.resolve(null);
    await page.keyboard.press('ControlOrMeta+s');
    const savedEpoch = await waitSaved(config.savedFile, config.marker, timeout);

    const syncedAt = await synced;
    const ms = value => Math.round(value * 10) / 10;
    return {
      visible_ms: ms(visible.at),
      typed_ms: ms(typed),
      saved_ms: ms(savedEpoch - origin),
      synced_ms: syncedAt === null ? null : ms(syncedAt),
      cells: visible.cells,
      page_errors: pageErrors.slice(0, 5),
    };
  } finally {
    await browser.close();
  }
}

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
try {
  process.stdout.write(`${JSON.stringify(await measure(config))}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: String(error.message || error) })}\n`);
  process.exitCode = 1;
}
