// Debian's Chromium (never a downloaded browser), headless, driven by playwright-core.
import process from 'node:process';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Quiet, reproducible, and offline: no GPU, no QUIC, no background fetches of updates or sync.
const ARGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launch headless Chromium; `--no-sandbox` only when running as root (CI, containers). */
export async function launchChromium() {
  const args = [...ARGS];
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    args.unshift('--no-sandbox');
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}
