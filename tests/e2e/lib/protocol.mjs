// How a scenario talks to the pytest test that runs it: JSON lines on stdout (nothing else goes there;
// logs go to stderr), answers on stdin.
//   {"step": NAME, ...}    the scenario needs the test to do something (e.g. restart the server) and
//                          waits for one answer line (any JSON object) before it goes on;
//   {"result": {...}}      what the users saw, for the test to assert on; the last line;
//   {"error": "..."}       the scenario could not finish (a deadline passed, a page crashed).
import readline from 'node:readline';

let answers = null;

export function emit(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

/** Ask the test to do `step` and wait for its answer (the test holds the deadline). */
export async function ask(step, data = {}) {
  if (answers === null) {
    answers = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  }
  emit({ step, ...data });
  const { value, done } = await answers.next();
  if (done) {
    throw new Error(`the test closed stdin instead of answering step ${step}`);
  }
  return JSON.parse(value);
}

export function log(...args) {
  process.stderr.write(args.map(String).join(' ') + '\n');
}
