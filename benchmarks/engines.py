"""The Python engines under test: ours (``crdt``), pycrdt, Loro, and a plain list of characters.

Every engine replays with an update listener attached (ours: ``doc.observe_updates``; pycrdt: ``doc.observe``
reading each event's update; Loro: ``subscribe_local_update``, committing after every call), and each delete
and each insert is its own call, so its own transaction. The replay loops are written out per engine so that
no engine pays for another's adapter. pycrdt's Text indexes UTF-8 bytes, so it replays pre-converted patches.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from importlib import metadata
from time import process_time
from typing import Any

from .workloads import (
    TYPED,
    NotebookSpec,
    Trace,
    cell_id,
    cell_source,
    median,
    now,
    sha256_bytes,
    sha256_text,
    typing_pos,
)

SHORT_REPS = 5  # encode and load take milliseconds: at least this many timed calls, for a steadier median
# Untimed calls before encode and load are timed, for every engine alike (Yjs's loads need several before
# V8 has compiled its decoder; ours and the native engines are steady after one).
WARMUP_CALLS = 5


class Engine:
    """A document engine driven from Python. Subclasses fill in the hooks; the drivers below time them."""

    key = ""
    label = ""
    has_state = True  # False for the list baseline (no document, no updates)

    def __init__(self) -> None:
        self.error: str | None = None
        self.keep: list = []  # subscriptions that must stay alive (Loro unsubscribes a dropped one)

    def available(self) -> bool:
        return True

    def version(self) -> str:
        return ""

    # -- text documents
    def text_doc(self, client_id: int = 1) -> tuple[Any, Any, list]:
        """A fresh document, its root Text "text", and a one-item list counting update bytes."""
        raise NotImplementedError

    def replay(self, text: Any, chunks: list, offset: int, deadline: float) -> int:
        """Apply the patches (each delete, then each insert, its own call); return how many were done."""
        raise NotImplementedError

    def chunks_for(self, trace: Trace) -> list:
        return trace.chunks

    def text_str(self, text: Any) -> str:
        return str(text)

    def text_len(self, text: Any) -> int:
        return len(text)

    def encode(self, doc: Any) -> bytes:
        raise NotImplementedError

    def load(self, update: bytes) -> Any:
        """A fresh document with ``update`` applied; returns its Text (reading its length)."""
        raise NotImplementedError

    # -- concurrent replay
    def agent(self, client_id: int, outbox: list) -> tuple[Callable, Callable, Any]:
        """(apply_update(u), run_txn(patches), text) for one agent whose updates land in outbox."""
        raise NotImplementedError

    # -- notebook
    def build_notebook(self, spec: NotebookSpec) -> Any:
        raise NotImplementedError

    def load_notebook(self, update: bytes) -> Any:
        raise NotImplementedError

    def notebook_peer(self, update: bytes, client_id: int, outbox: list) -> Any:
        raise NotImplementedError

    def cell_typer(self, doc: Any, index: int) -> tuple[Callable[[int, str], None], str]:
        """(insert(pos, text) as one transaction, current source) for cell ``index`` of a peer."""
        raise NotImplementedError

    def applier(self, doc: Any) -> Callable[[bytes], None]:
        raise NotImplementedError

    def sources(self, doc: Any) -> list[str]:
        raise NotImplementedError


# -- ours -------------------------------------------------------------------------------------------------


class Ours(Engine):
    key = "ours"
    label = "ours"

    def __init__(self) -> None:
        super().__init__()
        import crdt

        self.crdt = crdt

    def version(self) -> str:
        return "working tree"

    def text_doc(self, client_id=1):
        doc = self.crdt.Doc(client_id=client_id)
        text = doc.get_text("text")
        count = [0]

        def on_update(update, origin):
            count[0] += len(update)

        doc.observe_updates(on_update)
        return doc, text, count

    def replay(self, text, chunks, offset, deadline):
        insert = text.insert
        delete = text.delete
        done = 0
        for chunk in chunks:
            for pos, d, s in chunk:
                if d:
                    delete(pos + offset, d)
                if s:
                    insert(pos + offset, s)
            done += len(chunk)
            if now() > deadline:
                break
        return done

    def encode(self, doc):
        return doc.encode_state_as_update()

    def load(self, update):
        doc = self.crdt.Doc()
        doc.apply_update(update)
        text = doc.get_text("text")
        len(text)
        return text

    def agent(self, client_id, outbox):
        doc = self.crdt.Doc(client_id=client_id)
        text = doc.get_text("text")
        doc.observe_updates(lambda u, origin: outbox.append(u))
        transact = doc.transact
        insert = text.insert
        delete = text.delete

        def run_txn(patches):
            with transact():
                for pos, d, s in patches:
                    if d:
                        delete(pos, d)
                    if s:
                        insert(pos, s)

        return doc.apply_update, run_txn, text

    def build_notebook(self, spec):
        c = self.crdt
        doc = c.Doc(client_id=1)
        cells = doc.get_array("cells")
        with doc.transact():
            cells.insert(0, [
                c.Map({
                    "id": cell_id(i), "cell_type": "code", "source": c.Text(cell_source(i, spec.lines)),
                    "metadata": c.Map(), "outputs": c.Array(), "execution_count": None,
                })
                for i in range(spec.cells)
            ])
        return doc

    def load_notebook(self, update):
        doc = self.crdt.Doc()
        doc.apply_update(update)
        len(doc.get_array("cells"))
        return doc

    def notebook_peer(self, update, client_id, outbox):
        doc = self.crdt.Doc(client_id=client_id)
        doc.apply_update(update)
        doc.observe_updates(lambda u, origin: outbox.append(u))
        return doc

    def cell_typer(self, doc, index):
        text = doc.get_array("cells")[index]["source"]
        return text.insert, str(text)

    def applier(self, doc):
        return doc.apply_update

    def sources(self, doc):
        return [str(cell["source"]) for cell in doc.get_array("cells")]


# -- pycrdt -----------------------------------------------------------------------------------------------


class Pycrdt(Engine):
    key = "pycrdt"
    label = "pycrdt"

    def __init__(self) -> None:
        super().__init__()
        try:
            import pycrdt
        except ImportError as e:
            self.error = f"not installed ({e}); pip install 'jupyter-crdt[bench]'"
            self.y = None
        else:
            self.y = pycrdt

    def available(self):
        return self.y is not None

    def version(self):
        return metadata.version("pycrdt")

    def text_doc(self, client_id=1):
        doc = self.y.Doc(client_id=client_id)
        text = doc.get("text", type=self.y.Text)
        count = [0]

        def on_event(event):
            count[0] += len(event.update)

        self.keep.append(doc.observe(on_event))
        return doc, text, count

    def chunks_for(self, trace):
        return trace.utf8_chunks()

    def replay(self, text, chunks, offset, deadline):
        insert = text.insert
        done = 0
        for chunk in chunks:
            for pos, d, s in chunk:
                if d:
                    p = pos + offset
                    del text[p : p + d]
                if s:
                    insert(pos + offset, s)
            done += len(chunk)
            if now() > deadline:
                break
        return done

    def text_len(self, text):
        return len(str(text))

    def encode(self, doc):
        return doc.get_update()

    def load(self, update):
        doc = self.y.Doc()
        doc.apply_update(update)
        text = doc.get("text", type=self.y.Text)
        len(text)
        return text

    def agent(self, client_id, outbox):
        doc = self.y.Doc(client_id=client_id)
        text = doc.get("text", type=self.y.Text)
        self.keep.append(doc.observe(lambda e: outbox.append(e.update)))
        transaction = doc.transaction
        insert = text.insert

        def run_txn(patches):  # positions are bytes: the harness only runs this on ASCII traces
            with transaction():
                for pos, d, s in patches:
                    if d:
                        del text[pos : pos + d]
                    if s:
                        insert(pos, s)

        return doc.apply_update, run_txn, text

    def build_notebook(self, spec):
        y = self.y
        doc = y.Doc(client_id=1)
        cells = doc.get("cells", type=y.Array)
        with doc.transaction():
            cells.extend([
                y.Map({
                    "id": cell_id(i), "cell_type": "code", "source": y.Text(cell_source(i, spec.lines)),
                    "metadata": y.Map(), "outputs": y.Array(), "execution_count": None,
                })
                for i in range(spec.cells)
            ])
        return doc

    def load_notebook(self, update):
        doc = self.y.Doc()
        doc.apply_update(update)
        len(doc.get("cells", type=self.y.Array))
        return doc

    def notebook_peer(self, update, client_id, outbox):
        doc = self.y.Doc(client_id=client_id)
        doc.apply_update(update)
        self.keep.append(doc.observe(lambda e: outbox.append(e.update)))
        return doc

    def cell_typer(self, doc, index):
        text = doc.get("cells", type=self.y.Array)[index]["source"]
        return text.insert, str(text)  # ASCII content: byte positions are code point positions

    def applier(self, doc):
        return doc.apply_update

    def sources(self, doc):
        return [str(cell["source"]) for cell in doc.get("cells", type=self.y.Array)]


# -- Loro -------------------------------------------------------------------------------------------------


class Loro(Engine):
    key = "loro"
    label = "Loro"

    def __init__(self) -> None:
        super().__init__()
        try:
            import loro
        except ImportError as e:
            self.error = f"not installed ({e}); pip install 'jupyter-crdt[bench]'"
            self.lo = None
        else:
            self.lo = loro

    def available(self):
        return self.lo is not None

    def version(self):
        return metadata.version("loro")

    def text_doc(self, client_id=1):
        doc = self.lo.LoroDoc()
        text = doc.get_text("text")
        count = [0]

        def on_update(update):
            count[0] += len(update)
            return True

        self.keep.append(doc.subscribe_local_update(on_update))
        return doc, text, count

    def replay(self, text, chunks, offset, deadline):
        insert = text.insert
        delete = text.delete
        commit = text.doc().commit
        done = 0
        for chunk in chunks:
            for pos, d, s in chunk:
                if d:
                    delete(pos + offset, d)
                    commit()
                if s:
                    insert(pos + offset, s)
                    commit()
            done += len(chunk)
            if now() > deadline:
                break
        return done

    def text_str(self, text):
        return text.to_string()

    def text_len(self, text):
        return text.len_unicode

    def encode(self, doc):
        return doc.export(self.lo.ExportMode.Snapshot())

    def load(self, update):
        doc = self.lo.LoroDoc()
        doc.import_(update)
        text = doc.get_text("text")
        text.len_unicode  # noqa: B018 - forces Loro's lazily decoded state
        return text

    def agent(self, client_id, outbox):
        doc = self.lo.LoroDoc()
        text = doc.get_text("text")

        def on_update(update):
            outbox.append(update)
            return True

        self.keep.append(doc.subscribe_local_update(on_update))
        insert = text.insert
        delete = text.delete
        commit = doc.commit

        def run_txn(patches):
            for pos, d, s in patches:
                if d:
                    delete(pos, d)
                if s:
                    insert(pos, s)
            commit()

        return doc.import_, run_txn, text

    def build_notebook(self, spec):
        lo = self.lo
        doc = lo.LoroDoc()
        cells = doc.get_list("cells")
        for i in range(spec.cells):
            cell = cells.insert_container(i, lo.LoroMap())
            cell.insert("id", cell_id(i))
            cell.insert("cell_type", "code")
            cell.insert_container("source", lo.LoroText()).insert(0, cell_source(i, spec.lines))
            cell.insert_container("metadata", lo.LoroMap())
            cell.insert_container("outputs", lo.LoroList())
            cell.insert("execution_count", None)
        doc.commit()
        return doc

    def load_notebook(self, update):
        doc = self.lo.LoroDoc()
        doc.import_(update)
        len(doc.get_list("cells"))
        return doc

    def notebook_peer(self, update, client_id, outbox):
        doc = self.lo.LoroDoc()
        doc.import_(update)

        def on_update(u):
            outbox.append(u)
            return True

        self.keep.append(doc.subscribe_local_update(on_update))
        return doc

    def cell_typer(self, doc, index):
        text = doc.get_list("cells").get(index).container.get("source").container
        insert = text.insert
        commit = doc.commit

        def type_one(pos, s):
            insert(pos, s)
            commit()

        return type_one, text.to_string()

    def applier(self, doc):
        return doc.import_

    def sources(self, doc):
        return [cell["source"] for cell in doc.get_deep_value()["cells"]]


# -- plain list of characters (baseline for local replay only) ------------------------------------------


class ListBaseline(Engine):
    key = "list"
    label = "list"
    has_state = False

    def version(self):
        return "Python list[str]"

    def text_doc(self, client_id=1):
        chars: list[str] = []
        return None, chars, [0]

    def replay(self, chars, chunks, offset, deadline):
        done = 0
        for chunk in chunks:
            for pos, d, s in chunk:
                if d:
                    p = pos + offset
                    del chars[p : p + d]
                if s:
                    p = pos + offset
                    chars[p:p] = s
            done += len(chunk)
            if now() > deadline:
                break
        return done

    def text_str(self, chars):
        return "".join(chars)


ENGINES: dict[str, type[Engine]] = {"ours": Ours, "pycrdt": Pycrdt, "loro": Loro, "list": ListBaseline}


# -- drivers ----------------------------------------------------------------------------------------------


def _fresh(engine: Engine) -> None:
    engine.keep.clear()
    gc.collect()


def run_local(engine: Engine, trace: Trace, runs: int, cap: float) -> dict:
    """Replay ``trace`` ``runs`` times (stopping early if one run hits the cap), then encode and load it."""
    chunks = engine.chunks_for(trace)
    times: list[float] = []
    cpu_times: list[float] = []
    done = 0
    doc = text = None
    for _ in range(runs):
        doc = text = None
        _fresh(engine)
        doc, text, count = engine.text_doc(1)
        c0 = process_time()
        t0 = now()
        done = engine.replay(text, chunks, 0, t0 + cap)
        times.append(now() - t0)
        cpu_times.append(process_time() - c0)
        if done < len(trace.patches):
            break
        if engine.has_state and trace.patches and not count[0]:
            raise RuntimeError(f"{engine.label}: the update listener saw no update")
    out: dict[str, Any] = {
        "times": times, "cpu_times": cpu_times, "done": done, "patches": len(trace.patches),
        "capped": done < len(trace.patches),
    }
    final = engine.text_str(text)
    out["text_ok"] = out["capped"] or final == trace.expected
    out["text_sha256"] = sha256_text(final)
    if out["capped"] or not engine.has_state:
        return out
    reps = max(runs, SHORT_REPS)
    encode_times = []
    for _ in range(WARMUP_CALLS):  # untimed, as for every engine
        update = engine.encode(doc)
    for _ in range(reps):
        t0 = now()
        update = engine.encode(doc)
        encode_times.append(now() - t0)
    load_times = []
    for _ in range(WARMUP_CALLS):  # untimed
        loaded = None
        loaded = engine.load(update)
    for _ in range(reps):
        loaded = None
        _fresh(engine)
        t0 = now()
        loaded = engine.load(update)
        load_times.append(now() - t0)
    out.update(
        encode_times=encode_times, update_size=len(update), update_sha256=sha256_bytes(update),
        load_times=load_times, loaded_ok=engine.text_str(loaded) == final,
    )
    return out


def run_scaling(engine: Engine, trace: Trace, runs: int, cap: float) -> dict:
    """The trace once into a fresh document, then twice into another (the second pass types it again after
    the first pass' text): each run pairs the two, so a change of machine load hits both alike. Odd runs
    time the 2x document first, so neither side of a pair always runs right after the other's document
    was freed (that alone made the first of the pair 5-14% faster)."""
    chunks = engine.chunks_for(trace)
    n = len(trace.patches)
    times_1x: list[float] = []
    times: list[float] = []
    ratios: list[float] = []
    # The 2x run's second pass over its first: the cost per edit in a document twice as long, measured
    # back to back in one document (1.0: no growth), less exposed to machine load than two runs' ratio.
    pass_ratios: list[float] = []
    ok = True
    capped = False
    done_2x = 0

    def once() -> float | None:
        _fresh(engine)
        doc, text, _count = engine.text_doc(1)
        t0 = now()
        done = engine.replay(text, chunks, 0, t0 + cap)
        elapsed = now() - t0
        del doc, text
        return elapsed if done == n else None

    def twice() -> tuple[float, float, float, bool] | None:
        nonlocal done_2x
        _fresh(engine)
        doc, text, _count = engine.text_doc(1)
        t0 = now()
        deadline = t0 + cap
        done_2x = engine.replay(text, chunks, 0, deadline)
        t_first = now() - t0
        if done_2x < n:
            return None
        first_len = engine.text_len(text)
        if engine.key == "pycrdt":  # the offset is in UTF-8 bytes there
            first_len = len(trace.expected.encode("utf-8", "surrogatepass"))
        t_mid = now()
        done_2x += engine.replay(text, chunks, first_len, deadline)
        t_second = now() - t_mid
        total = now() - t0
        text_ok = engine.text_str(text) == trace.expected * 2
        del doc, text
        return (total, t_first, t_second, text_ok) if done_2x == 2 * n else None

    for r in range(runs):
        if r % 2 == 0:
            t1 = once()
            result = twice() if t1 is not None else None
        else:
            result = twice()
            t1 = once() if result is not None else None
        if t1 is None or result is None:
            capped = True
            break
        t2, t_first, t_second, text_ok = result
        times_1x.append(t1)
        times.append(t2)
        ratios.append(t2 / t1)
        pass_ratios.append(t_second / t_first)
        ok = ok and text_ok
    return {"times": times, "times_1x": times_1x, "ratios": ratios, "pass_ratios": pass_ratios,
            "capped": capped, "done": done_2x, "patches": 2 * n, "text_ok": capped or ok}


def _bring_up(txns: list[dict], have: bytearray, parents: list[int], updates: list, apply: Callable) -> int:
    """Apply to one agent the updates of every ancestor of ``parents`` it lacks, in txn order."""
    stack = [p for p in parents if not have[p]]
    for p in stack:
        have[p] = 2
    missing = []
    while stack:
        t = stack.pop()
        missing.append(t)
        for p in txns[t]["parents"]:
            if not have[p]:
                have[p] = 2
                stack.append(p)
    missing.sort()
    n = 0
    for t in missing:
        have[t] = 1
        u = updates[t]
        if u is not None:
            apply(u)
            n += 1
    return n


def run_concurrent(engine: Engine, txns: list[dict], n_agents: int, runs: int) -> dict:
    """Each agent edits its own document; before a txn its agent applies every missing ancestor's update
    (in txn order, one call each); at the end every agent catches up. Times the whole thing."""
    times = []
    texts: list[str] = []
    deliveries = 0
    for _ in range(runs):
        _fresh(engine)
        outbox: list[bytes] = []
        agents = [engine.agent(a + 1, outbox) for a in range(n_agents)]
        known = [bytearray(len(txns)) for _ in agents]
        updates: list[bytes | None] = [None] * len(txns)
        deliveries = 0

        t0 = now()
        for i, txn in enumerate(txns):
            agent = txn["agent"]
            deliveries += _bring_up(txns, known[agent], txn["parents"], updates, agents[agent][0])
            outbox.clear()
            agents[agent][1](txn["patches"])
            updates[i] = outbox[0] if outbox else None
            known[agent][i] = 1
        everything = list(range(len(txns)))
        for a in range(n_agents):
            deliveries += _bring_up(txns, known[a], everything, updates, agents[a][0])
        times.append(now() - t0)
        texts = [engine.text_str(a[2]) for a in agents]
    return {
        "times": times, "txns": len(txns), "deliveries": deliveries,
        "converged": all(t == texts[0] for t in texts), "text_sha256": sha256_text(texts[0]),
    }


def run_notebook(engine: Engine, spec: NotebookSpec, runs: int) -> dict:
    build, encode, load, typing = [], [], [], []
    update = b""
    for _ in range(runs):
        _fresh(engine)
        t0 = now()
        doc = engine.build_notebook(spec)
        build.append(now() - t0)
        t0 = now()
        update = engine.encode(doc)
        encode.append(now() - t0)
        del doc
        _fresh(engine)
        t0 = now()
        engine.load_notebook(update)
        load.append(now() - t0)
    converged = True
    cells = spec.edited_cells()
    for _ in range(runs):
        _fresh(engine)
        outbox: list[bytes] = []
        peers = [engine.notebook_peer(update, 100 + p, outbox) for p in range(spec.peers)]
        appliers = [engine.applier(d) for d in peers]
        typers = []
        for p, d in enumerate(peers):
            insert, src = engine.cell_typer(d, cells[p])
            typers.append((insert, typing_pos(src)))
        others = [[a for q, a in enumerate(appliers) if q != p] for p in range(spec.peers)]
        t0 = now()
        for k in range(spec.keystrokes):
            ch = TYPED[k % len(TYPED)]
            for p in range(spec.peers):
                outbox.clear()
                insert, cursor = typers[p]
                insert(cursor + k, ch)
                u = outbox[0]
                for apply in others[p]:
                    apply(u)
        typing.append(now() - t0)
        ref = engine.sources(peers[0])
        converged = converged and all(engine.sources(d) == ref for d in peers[1:])
        del peers, appliers, typers, others
    return {
        "build_times": build, "encode_times": encode, "load_times": load, "update_size": len(update),
        "update_sha256": sha256_bytes(update), "typing_times": typing, "edits": spec.peers * spec.keystrokes,
        "deliveries": spec.peers * spec.keystrokes * (spec.peers - 1), "converged": converged,
    }


def collect_updates(trace: Trace) -> list[bytes]:
    """Our updates for one replay of ``trace`` (untimed; sent to Yjs to check it rebuilds the text)."""
    import crdt

    doc = crdt.Doc(client_id=1)
    text = doc.get_text("text")
    updates: list[bytes] = []
    doc.observe_updates(lambda u, origin: updates.append(bytes(u)))
    for pos, d, s in trace.patches:
        if d:
            text.delete(pos, d)
        if s:
            text.insert(pos, s)
    return updates


__all__ = [
    "ENGINES", "WARMUP_CALLS", "SHORT_REPS", "Engine", "run_local", "run_scaling", "run_concurrent",
    "run_notebook", "median",
]
