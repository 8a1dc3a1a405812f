// Runs one browser scenario: `node run.mjs '{"scenario": NAME, "baseUrl": ..., "path": ..., ...}'`.
// scenarios/NAME.mjs exports `run({ browser, config })`, returning what the users saw; this prints it as
// the last stdout line, {"result": ...}, or {"error": ...} (see lib/protocol.mjs). The pytest test that
// started us asserts on it, and kills us if we overrun its deadline.
import process from 'node:process';
import { launchChromium } from './lib/browser.mjs';
import { emit, log } from './lib/protocol.mjs';

const config = JSON.parse(process.argv[2] || '{}');
if (!/^[a-z0-9_]+$/.test(config.scenario || '')) {
  emit({ error: `no such scenario: ${config.scenario}` });
  process.exit(2);
}

const { run } = await import(`./scenarios/${config.scenario}.mjs`);
const browser = await launchChromium();
let code = 0;
try {
  const result = await run({ browser, config });
  emit({ result });
} catch (error) {
  log(error && error.stack ? error.stack : String(error));
  emit({ error: error && error.message ? error.message : String(error) });
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
