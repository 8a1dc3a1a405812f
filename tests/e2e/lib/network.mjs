// Cutting one user's connection to the server. Playwright's offline mode stops new requests but leaves
// open websockets alone, so every websocket of the context is routed through Playwright: cutting
// closes them all (both ends), and while cut, new ones are closed as soon as they open.
import { User } from './user.mjs';

/** Route `context`'s websockets; returns {cut(), restore()} for that user's connection. */
export async function cuttableConnection(context) {
  const open = new Set();
  let isCut = false;
  await context.routeWebSocket(/.*/, page => {
    if (isCut) {
      page.close({ code: 1006, reason: 'connection cut by the test' }).catch(() => {});
      return;
    }
    const server = page.connectToServer();
    const route = { page, server };
    open.add(route);
    page.onClose(() => {
      open.delete(route);
      server.close().catch(() => {});
    });
    server.onClose(() => {
      open.delete(route);
      page.close().catch(() => {});
    });
  });
  return {
    async cut() {
      isCut = true;
      await context.setOffline(true);
      const routes = [...open];
      open.clear();
      await Promise.all(routes.map(async ({ page, server }) => {
        await server.close({ code: 1001, reason: 'connection cut by the test' }).catch(() => {});
        await page.close({ code: 1006, reason: 'connection cut by the test' }).catch(() => {});
      }));
    },
    async restore() {
      isCut = false;
      await context.setOffline(false);
    },
  };
}

/**
 * alice and bob open `path` (in `app`, with `watchToasts`, see User.open), bob's connection routed so the test can cut it;
 * both have their kernel and bob's status item says connected with nothing pending.
 * Returns {alice, bob, bobLink}.
 */
export async function openWithCuttableBob(browser, { baseUrl, path, app, watchToasts }) {
  let bobLink = null;
  const [alice, bob] = await Promise.all([
    User.open(browser, { name: 'alice', baseUrl, path, app, watchToasts }),
    User.open(browser, {
      name: 'bob', baseUrl, path, app, watchToasts,
      beforeOpen: async context => { bobLink = await cuttableConnection(context); },
    }),
  ]);
  await Promise.all([alice.waitKernel(), bob.waitKernel()]);
  await bob.watchStatus();
  await bob.waitStatus('connected', 0, 0);
  return { alice, bob, bobLink };
}
