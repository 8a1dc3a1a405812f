/**
 * Asking whether a lost server is back, a little less often each time.
 *
 * Every failure counts the same: no answer (network error), and an answer
 * that is not a success (a proxy's 502 while the server restarts, a 403 once
 * the login expired). Backing off only on network errors meant one request a
 * second, forever, from every open tab behind a proxy that answers 502.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The first wait before asking. */
export const FIRST_PROBE_DELAY_MS = 1000;
/** The longest wait between two requests. */
export const MAX_PROBE_DELAY_MS = 10000;

/** How {@link probeUntilReachable} asks, and when it stops. */
export interface IProbeOptions {
  /** One request: true when the server answered with a success; false or a throw is a failure. */
  check: () => Promise<boolean>;
  /** Checked before every request: true stops the probe (the server was found back by other means). */
  stop?: () => boolean;
  firstDelay?: number;
  maxDelay?: number;
  /** Waits `ms` milliseconds (tests give a clock of their own). */
  sleep?: (ms: number) => Promise<void>;
}

/** The wait after `delay` when the request that followed it failed: doubled, up to `maxDelay`. */
export function nextProbeDelay(delay: number, maxDelay = MAX_PROBE_DELAY_MS): number {
  return Math.min(delay * 2, maxDelay);
}

/**
 * Ask until the server answers with a success (resolves true) or `stop()` says
 * to stop (resolves false). Waits before each request, doubling the wait after
 * every failure of any kind.
 */
export async function probeUntilReachable(options: IProbeOptions): Promise<boolean> {
  const sleep =
    options.sleep ?? ((ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms)));
  const maxDelay = options.maxDelay ?? MAX_PROBE_DELAY_MS;
  let delay = Math.min(options.firstDelay ?? FIRST_PROBE_DELAY_MS, maxDelay);
  for (;;) {
    await sleep(delay);
    if (options.stop?.()) {
      return false;
    }
    let ok = false;
    try {
      ok = await options.check();
    } catch {
      ok = false; // no answer at all: a failure like any other
    }
    if (ok) {
      return true;
    }
    delay = nextProbeDelay(delay, maxDelay);
  }
}

/** One request to the server's `api/status`: true if it answered with a success. */
export async function serverAnswers(settings: ServerConnection.ISettings): Promise<boolean> {
  const response = await ServerConnection.makeRequest(
    URLExt.join(settings.baseUrl, 'api/status'),
    {},
    settings
  );
  return response.ok;
}
