// Scenario 2b: bob is typing in a cell when alice moves a cell above his (down by one, still above).
// His keystrokes must keep going into the cell he is typing in. (A move arrives as one change that
// deletes the cell and inserts its copy; JupyterLab 4.6's notebook widget then loses track of bob's
// active cell and his focus jumps to another cell.)
import { User, waitConverged } from '../lib/user.mjs';

export async function run({ browser, config }) {
  const { baseUrl, path: notebook } = config;
  const [alice, bob] = await Promise.all(
    ['alice', 'bob'].map(name => User.open(browser, { name, baseUrl, path: notebook })));
  const first = ' bob typed this first';
  const then = ' and this after alice moved a cell';

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
  const expected = ['zero', 'one', 'two', 'three'].reduce((n, name) => n + `cell ${name}`.length, 0) +
    first.length + then.length;
  const cells = await waitConverged([alice, bob], c => length(c) === expected, 'bob\'s keystrokes');
  await Promise.all([alice.close(), bob.close()]);
  return { first, then, focusBefore, cells };
}
