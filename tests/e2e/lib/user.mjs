// One user in their own browser context (own cookies: logged in as user-NAME), with the notebook open
// in JupyterLab. Every wait has a deadline; nothing sleeps for a fixed time.
import fs from 'node:fs';
import process from 'node:process';
import { setTimeout as delay } from 'node:timers/promises';

const IN_PAGE = fs.readFileSync(new URL('./in_page.js', import.meta.url), 'utf8');

/** Milliseconds any single wait may take (a slow, shared 2-core machine needs generous ones). */
export const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS || 90000);

/** How often convergence across pages is polled. */
const POLL_MS = 100;

export class User {
  /**
   * @param {import('playwright-core').Browser} browser
   * @param {{name: string, baseUrl: string, path: string, workspace: string, token: string,
   *   app: string, watchToasts: boolean, beforeOpen: Function}} options
   *   `token` logs in (default `user-NAME`; `reader-NAME` is a user who may only read, see users.py);
   *   `app` is the application the notebook opens in: 'lab' (JupyterLab, default) or 'notebook'
   *   (Jupyter Notebook 7's notebook page); `watchToasts` records the notifications shown from the
   *   moment the page loads (see toastLog());
   *   `beforeOpen(context)` runs before the first page opens (to route its traffic, say).
   */
  static async open(browser, options) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    if (options.watchToasts) {
      await context.addInitScript(() => { window.e2eWatchToastsFromStart = true; });
    }
    await context.addInitScript({ content: IN_PAGE });
    if (options.beforeOpen) {
      await options.beforeOpen(context);
    }
    const user = new User(options, context);
    user.page = await context.newPage();
    user.page.on('pageerror', error => process.stderr.write(`[${options.name}] page error: ${error}\n`));
    await user.goto();
    return user;
  }

  constructor({ name, baseUrl, path, workspace, token, app }, context) {
    this.name = name;
    this.app = app || 'lab';
    this.token = token || `user-${name}`;
    this.baseUrl = baseUrl;
    this.path = path;
    // A workspace of one's own: the default one is shared by all users of a server, so each
    // page would otherwise also restore the tabs the other users had open.
    this.workspace = workspace || `${name}-${path.replace(/\W/g, '-')}`;
    this.context = context;
    this.page = null;
    this.panelId = null;
  }

  get url() {
    const path = this.path.split('/').map(encodeURIComponent).join('/');
    if (this.app === 'notebook') {
      return `${this.baseUrl}/notebooks/${path}?token=${this.token}`;
    }
    return `${this.baseUrl}/lab/workspaces/${this.workspace}/tree/${path}?token=${this.token}`;
  }

  /** Open the notebook (in a new page if the last one was closed) and wait until it is loaded. */
  async goto() {
    if (this.page === null || this.page.isClosed()) {
      this.page = await this.context.newPage();
    }
    await this.page.goto(this.url);
    await this.waitReady();
  }

  async waitReady() {
    await this.waitUntil(path => window.e2e.ready(path), this.path, `${this.name}'s notebook to load`);
    this.panelId = await this.page.evaluate(path => window.e2e.panel(path).id, this.path);
  }

  /** Wait until the notebook's kernel is started and connected (so cutting the network later does
   * not fail its start with an "Error Starting Kernel" dialog). */
  async waitKernel() {
    await this.waitUntil(path => {
      const kernel = window.e2e.panel(path).sessionContext.session?.kernel;
      return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
    }, this.path, `${this.name}'s kernel to start`);
  }

  async reload() {
    await this.page.reload();
    await this.waitReady();
  }

  /** Wait for `predicate(arg)` to hold in the page; fails with `what` past the deadline. */
  async waitUntil(predicate, arg, what, timeout = TIMEOUT) {
    try {
      await this.page.waitForFunction(predicate, arg, { timeout, polling: POLL_MS });
    } catch (error) {
      throw new Error(`${this.name}: gave up waiting for ${what} after ${timeout} ms (${error.message})`);
    }
  }

  /** The cells as this user's JupyterLab holds them: [{id, type, source}]. */
  cells() {
    return this.page.evaluate(path => window.e2e.cells(path), this.path);
  }

  /** The text each cell's editor shows this user. */
  editorTexts() {
    return this.page.evaluate(path => window.e2e.editorTexts(path), this.path);
  }

  /** The cell widget `index` of this notebook, as a Playwright locator. */
  cell(index) {
    return this.page.locator(`#${this.panelId} .jp-Notebook .jp-Cell`).nth(index);
  }

  /** Click line `line` of cell `index` and put the cursor at its end, as a user about to type. */
  async clickLineEnd(index, line) {
    try {
      await this.cell(index).locator('.cm-content .cm-line').nth(line).click();
    } catch (error) {
      const dialogs = await this.dialogs();
      throw new Error(`${this.name} could not click line ${line} of cell ${index}` +
        (dialogs.length ? ` (a dialog is in the way: ${JSON.stringify(dialogs)})` : '') + `: ${error.message}`);
    }
    await this.page.keyboard.press('End');
  }

  /** The text of every open JupyterLab dialog. */
  dialogs() {
    return this.page.locator('.jp-Dialog').allInnerTexts();
  }

  /** Type `text` key by key (each key is its own keydown/keypress/keyup, as from a keyboard). */
  async type(text) {
    await this.page.keyboard.type(text);
  }

  async press(keys) {
    await this.page.keyboard.press(keys);
  }

  /** Run a JupyterLab command (what its menu item, toolbar button and shortcut run). */
  async command(id, args = {}) {
    return this.page.evaluate(([id, args]) => window.jupyterapp.commands.execute(id, args), [id, args]);
  }

  /** Make cell `index` the active cell, in command mode. */
  async selectCell(index) {
    await this.page.evaluate(([path, index]) => window.e2e.selectCell(path, index), [this.path, index]);
  }

  async indexOfCell(id) {
    const cells = await this.cells();
    return cells.findIndex(cell => cell.id === id);
  }

  /**
   * Wait until this user's JupyterLab says the server is gone, and deal with it as a person would.
   * With our extension, its status bar item says "offline". The stock JupyterLab says it with a modal
   * "Server Connection Error" dialog (once a poll fails), which takes the keyboard from the editor:
   * the user ticks "Do not show this message again in this session" and presses Close.
   * Returns how it was said: 'status' or 'dialog'. Click back into the cell before typing again.
   */
  async noticeServerGone() {
    await this.waitUntil(() => {
      const item = document.getElementById('jp-crdt-status');
      const dialog = Array.from(document.querySelectorAll('.jp-Dialog'))
        .some(node => node.innerText.includes('Server Connection Error'));
      return dialog || (!!item && item.dataset.state === 'offline');
    }, null, 'JupyterLab to say the server is gone');
    const dialog = this.page.locator('.jp-Dialog', { hasText: 'Server Connection Error' });
    if ((await dialog.count()) === 0) {
      return 'status';
    }
    await dialog.locator('input[type="checkbox"]').check();
    await dialog.locator('button.jp-mod-reject').click();
    await dialog.waitFor({ state: 'detached', timeout: TIMEOUT });
    return 'dialog';
  }

  /** Start recording the notifications this page shows (see in_page.js watchToasts), if it does not
   * yet. */
  async watchToasts() {
    await this.page.evaluate(() => window.e2e.watchToasts());
  }

  /** What the notifications showed since recording started: [{type, text}], each distinct one once. */
  toastLog() {
    return this.page.evaluate(() => window.e2e.toastLog);
  }

  /** Wait until a notification of `type` (info, success, warning, error) whose text includes `text`
   * was shown since watchToasts(). */
  async waitToast(type, text) {
    try {
      await this.waitUntil(([type, text]) => window.e2e.toastLog.some(
        toast => toast.type === type && toast.text.includes(text)), [type, text],
      `a ${type} notification saying "${text}" on ${this.name}'s page`);
    } catch (error) {
      throw new Error(`${error.message}; it showed: ${JSON.stringify(await this.toastLog())}`);
    }
  }

  /** Start recording the sync status item (see in_page.js watchStatus); waits for the item. */
  async watchStatus() {
    await this.waitUntil(() => window.e2e.watchStatus(), null, 'the jupyter-crdt status bar item');
  }

  /** What the status item showed since watchStatus(): [{state, pending}]. */
  statusLog() {
    return this.page.evaluate(() => window.e2e.statusLog);
  }

  /** Wait until the status item shows `state` with a pending count in [least, most] (null: any). */
  async waitStatus(state, least = 0, most = null) {
    await this.waitUntil(([state, least, most]) => {
      const item = document.getElementById('jp-crdt-status');
      const pending = item ? Number(item.dataset.pending) : NaN;
      return !!item && item.dataset.state === state && pending >= least && (most === null || pending <= most);
    }, [state, least, most], `status ${state} (pending ${least}..${most ?? 'any'}) on ${this.name}'s status bar`);
  }

  async screenshot(file) {
    await this.page.screenshot({ path: file });
  }

  async close() {
    await this.context.close();
  }
}

/** Poll `read()` until `accept(value)` holds; returns that value, or fails with `what` and the last one. */
export async function waitFor(read, accept, what, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await read();
    if (accept(value)) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up waiting for ${what} after ${timeout} ms (last: ${JSON.stringify(value)})`);
    }
    await delay(POLL_MS);
  }
}

/**
 * Wait until every user's JupyterLab holds the same cells and `accept(cells)` holds for them.
 * Returns those cells; past the deadline, fails showing what each user had.
 */
export async function waitConverged(users, accept = () => true, what = 'the same notebook', timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let views = [];
  for (;;) {
    views = await Promise.all(users.map(user => user.cells()));
    const first = JSON.stringify(views[0]);
    if (views[0] !== null && views.every(view => JSON.stringify(view) === first) && accept(views[0])) {
      return views[0];
    }
    if (Date.now() > deadline) {
      const detail = users.map((user, i) => `${user.name}: ${JSON.stringify(views[i])}`).join('\n');
      throw new Error(`users did not converge to ${what} within ${timeout} ms:\n${detail}`);
    }
    await delay(POLL_MS);
  }
}
