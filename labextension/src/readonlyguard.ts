/**
 * A read-only notebook's shared model refuses every local change.
 *
 * The server refuses a reader's updates, but JupyterLab's commands edit the
 * local shared model first: `dd`, cut, paste, move, merge, split, changing a
 * cell's type, clearing outputs, a run's execution count... would change the
 * reader's own view until a reload, and a refused deletion cannot be taken
 * back (the reader would then miss collaborators' edits of that cell).
 * JupyterLab has no read-only switch for these commands, and the cell metadata
 * some of them check (`deletable`, `editable`) is part of the shared document,
 * which a reader must not write.
 *
 * So the methods of `@jupyter/ydoc` through which every local change goes
 * refuse it when their notebook is guarded: {@link YNotebook}'s cell list,
 * metadata, nbformat, source and undo/redo, and each cell's source, metadata,
 * attachments, outputs, execution count, execution state and undo/redo. They
 * are wrapped once on the classes' prototypes (`@jupyter/ydoc` is a singleton
 * shared by JupyterLab and its extensions), so a cell a collaborator inserts
 * later is guarded from the moment it exists. Collaborators' changes are
 * applied by Yjs to the document directly, never through these methods, so
 * they still show.
 */
import { JSONExt, JSONValue } from '@lumino/coreutils';
import {
  createStandaloneCell,
  YBaseCell,
  YCellType,
  YCodeCell,
  YMarkdownCell,
  YNotebook,
  YRawCell
} from '@jupyter/ydoc';

/** A local change a guarded notebook refused. */
export interface IRefusal {
  /** The guarded notebook. */
  notebook: YNotebook;
  /** The cell the change was for, or null for a change of the notebook itself. */
  cell: YCellType | null;
  /** The refused method or property, e.g. `deleteCellRange`, `setSource`, `clearOutputs`, `execution_count`. */
  change: string;
}

/** The guarded notebooks, each with what to call when it refuses a change. */
const guarded = new WeakMap<YNotebook, (refusal: IRefusal) => void>();

/**
 * Make `notebook` refuse every local change from now on; idempotent (a second
 * call keeps the first `onRefused`).
 *
 * A call that would not have changed the document (setting a value it already
 * holds, clearing no outputs...) is dropped without a report: JupyterLab makes
 * such calls by itself (on opening, on a kernel change). Refused insertions hand
 * the caller detached cells (what the insertion would have returned, attached to
 * nothing), so commands that go on to fill or select the new cell neither fail
 * nor change the document; they are disposed once the command's synchronous
 * work is done (each has its own awareness, whose timer would otherwise run
 * forever).
 *
 * @param onRefused - called with each refused change (to tell the user, or to
 *   put back what JupyterLab's own cell models changed before the refusal).
 */
export function refuseLocalEdits(notebook: YNotebook, onRefused: (refusal: IRefusal) => void = () => {}): void {
  installGuards();
  if (!guarded.has(notebook)) {
    guarded.set(notebook, onRefused);
  }
}

/** True when {@link refuseLocalEdits} guards `notebook`. */
export function refusesLocalEdits(notebook: YNotebook): boolean {
  return guarded.has(notebook);
}

/** What a guarded method does instead of its change. */
interface IRule {
  /** Whether the call would have changed the document (only those are reported). */
  changes: (self: any, ...args: any[]) => boolean;
  /** What the refused call returns (nothing by default). */
  refused?: (self: any, ...args: any[]) => unknown;
}

const equal = (a: unknown, b: unknown): boolean =>
  JSONExt.deepEqual((a ?? null) as JSONValue, (b ?? null) as JSONValue);

/** Rules the same for cells and notebooks: both have getMetadata(key?), canUndo() and canRedo(). */
const COMMON_RULES: Record<string, IRule> = {
  setMetadata: {
    changes: (self, metadata: unknown, value?: unknown) =>
      typeof metadata === 'string' ? !equal(self.getMetadata(metadata), value) : !equal(self.getMetadata(), metadata)
  },
  deleteMetadata: { changes: (self, key: string) => self.getMetadata(key) !== undefined },
  undo: { changes: self => self.canUndo() },
  redo: { changes: self => self.canRedo() }
};

const NOTEBOOK_METHODS: Record<string, IRule> = {
  insertCells: {
    changes: (_self, _index: number, cells: unknown[]) => cells.length > 0,
    refused: (_self, _index: number, cells: Parameters<YNotebook['insertCells']>[1]) => {
      const detached = cells.map(cell => createStandaloneCell(cell));
      setTimeout(() => detached.forEach(cell => cell.dispose()), 0);
      return detached;
    }
  },
  deleteCellRange: { changes: (_self, from: number, to: number) => to > from },
  moveCells: { changes: (_self, _from: number, _to: number, n: number = 1) => n > 0 },
  // Replacing the whole document (what reverting to the file does): refused as one change.
  setSource: { changes: () => true },
  fromJSON: { changes: () => true },
  updateMetadata: {
    changes: (self, values: Record<string, unknown>) =>
      Object.entries(values).some(([key, value]) => !equal(self.getMetadata(key), value))
  },
  ...COMMON_RULES
};

const NOTEBOOK_SETTERS: Record<string, IRule> = {
  nbformat: { changes: (self, value: number) => self.nbformat !== value },
  nbformat_minor: { changes: (self, value: number) => self.nbformat_minor !== value }
};

const CELL_METHODS: Record<string, IRule> = {
  setSource: { changes: (self, value: string) => self.getSource() !== value },
  updateSource: {
    changes: (self, start: number, end: number, value: string = '') => self.getSource().slice(start, end) !== value
  },
  ...COMMON_RULES
};

const ATTACHMENT_CELL_METHODS: Record<string, IRule> = {
  setAttachments: { changes: (self, attachments: unknown) => !equal(self.getAttachments(), attachments) }
};

const CODE_CELL_METHODS: Record<string, IRule> = {
  setExecutionCount: { changes: (self, count: number | null) => (self.execution_count ?? null) !== (count ?? null) },
  setOutputs: { changes: (self, outputs: unknown[]) => !equal(self.getOutputs(), outputs) },
  updateOutputs: {
    changes: (self, start: number, end: number, outputs: unknown[] = []) =>
      !equal(self.getOutputs().slice(start, end), outputs)
  },
  clearOutputs: { changes: self => self.youtputs.length > 0 },
  appendStreamOutput: { changes: (_self, _index: number, text: string) => text.length > 0 },
  removeStreamOutput: { changes: () => true }
};

const CODE_CELL_SETTERS: Record<string, IRule> = {
  executionState: { changes: (self, state: string) => self.executionState !== state }
};

/** Which guarded notebook a call on `self` is for, with its report, or null when `self` is not guarded. */
type Lookup = (self: any) => [YNotebook, YCellType | null, (refusal: IRefusal) => void] | null;

const notebookLookup: Lookup = self => {
  const report = guarded.get(self);
  return report ? [self, null, report] : null;
};

const cellLookup: Lookup = self => {
  // A detached cell (what a refused insertion returns) has no notebook: it stays writable.
  const notebook = (self as YBaseCell<any>).notebook;
  const report = notebook ? guarded.get(notebook) : undefined;
  return notebook && report ? [notebook, self, report] : null;
};

/** The function that runs `original` unless `self` is guarded, then refuses by `rule`. */
function guard(name: string, original: (...args: any[]) => unknown, rule: IRule, lookup: Lookup) {
  return function (this: any, ...args: any[]): unknown {
    const found = lookup(this);
    if (!found) {
      return original.apply(this, args);
    }
    const [notebook, cell, report] = found;
    if (rule.changes(this, ...args)) {
      report({ notebook, cell, change: name });
    }
    return rule.refused?.(this, ...args);
  };
}

/** The descriptor of `name` on `proto` or the first prototype above it that has one. */
function findDescriptor(proto: object, name: string): PropertyDescriptor {
  for (let p: object | null = proto; p; p = Object.getPrototypeOf(p)) {
    const descriptor = Object.getOwnPropertyDescriptor(p, name);
    if (descriptor) {
      return descriptor;
    }
  }
  throw new Error(`@jupyter/ydoc has no ${name}: the read-only guard does not fit this version`);
}

/** A property definition that shadows one of `@jupyter/ydoc`'s by its guard. */
type Shadow = [proto: object, name: string, descriptor: PropertyDescriptor];

/** The guards of each of `methods` (and of the setter of each of `setters`) on `proto`. */
function shadows(proto: object, methods: Record<string, IRule>, setters: Record<string, IRule>, lookup: Lookup): Shadow[] {
  const result: Shadow[] = [];
  for (const [name, rule] of Object.entries(methods)) {
    const original = findDescriptor(proto, name).value;
    result.push([proto, name, { value: guard(name, original, rule, lookup), writable: true, configurable: true }]);
  }
  for (const [name, rule] of Object.entries(setters)) {
    const { get, set } = findDescriptor(proto, name);
    result.push([proto, name, { get, set: guard(name, set!, rule, lookup), configurable: true }]);
  }
  return result;
}

let installed = false;

/** Wrap `@jupyter/ydoc`'s methods, once per page; all or (when one is missing) none. */
function installGuards(): void {
  if (installed) {
    return;
  }
  const all = [
    ...shadows(YNotebook.prototype, NOTEBOOK_METHODS, NOTEBOOK_SETTERS, notebookLookup),
    ...shadows(YBaseCell.prototype, CELL_METHODS, {}, cellLookup),
    // Markdown and raw cells share a base class that @jupyter/ydoc does not export.
    ...shadows(YMarkdownCell.prototype, ATTACHMENT_CELL_METHODS, {}, cellLookup),
    ...shadows(YRawCell.prototype, ATTACHMENT_CELL_METHODS, {}, cellLookup),
    ...shadows(YCodeCell.prototype, CODE_CELL_METHODS, CODE_CELL_SETTERS, cellLookup)
  ];
  for (const [proto, name, descriptor] of all) {
    Object.defineProperty(proto, name, descriptor);
  }
  installed = true;
}
