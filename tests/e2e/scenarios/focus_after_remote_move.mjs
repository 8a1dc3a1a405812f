// Scenario 2b: bob is typing in a cell when alice moves a cell above his (down by one, still above),
// then the very cell he is typing in (up by one). His keystrokes must keep going into his cell, at his
// cursor. (A move arrives as one change that deletes the cell and inserts its copy; JupyterLab 4.6's
// notebook widget alone then loses track of bob's active cell and his focus jumps to another cell;
// the moved cell itself gets a new widget and editor.)
import { User, waitConverged } from '../lib/user.mjs';

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const [alice, bob] = await Promise.all(
    ['alice', 'bob'].map(name => User.open(browser, { name, baseUrl, path: notebook })));
  const first = ' bob typed this first';
  const then = ' and this after alice moved a cell';
  const last = ' and this after alice moved mine';

  await bob.clickLineEnd(await bob.indexOfCell('two'), 0);
  await bob.type(first);
  await alice.selectCell(await alice.indexOfCell('zero'));
  await alice.command('notebook:move-cell-down');
  await waitConverged([alice, bob], cells => cells[1].id === 'zero' &&
    cells.some(cell => cell.source.endsWith(first)), 'the move and bob\'s first words');
  const focusedCell = () => bob.page.evaluate(path => {
    const holder = document.activeElement && document.activeElement.closest('.jp-Cell');
    const cell = window.e2e.panel(path).content.widgets.find(widget => widget.node === holder);
    return cell ? cell.model.id : null;
  }, notebook);
  const focusBefore = await focusedCell();
  await bob.type(then);
  const length = (cells) => cells.reduce((n, cell) => n + cell.source.length, 0);
  const names = ['zero', 'one', 'two', 'three'];
  const typed = names.reduce((n, name) => n + `cell ${name}`.length, 0) + first.length + then.length;
  const cells = await waitConverged([alice, bob], c => length(c) === typed, 'bob\'s keystrokes');

  // Now alice moves bob's own cell up, above 'zero'.
  await alice.selectCell(await alice.indexOfCell('two'));
  await alice.command('notebook:move-cell-up');
  await waitConverged([alice, bob], c => c[1].id === 'two', 'the move of bob\'s cell');
  const focusAfterOwnMove = await focusedCell();
  await bob.type(last);
  const final = await waitConverged([alice, bob], c => length(c) === typed + last.length,
    'bob\'s last keystrokes');
  await Promise.all([alice.close(), bob.close()]);
  return { first, then, last, focusBefore, focusAfterOwnMove, cells, final };
}
