"""Real updates and state vectors for the fuzz tests, and a tiny writer for hand-made hostile updates.

Everything here is deterministic (fixed client ids and seeds), so a failing fuzz example replays.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import crdt
from crdt.encoding import UNDEFINED, Encoder
from tests.crdt.script_runner import apply_op, make_doc, random_op, sync

ROOTS = {"t": "text", "a": "array", "m": "map"}


@dataclass
class Corpus:
    updates: list[bytes] = field(default_factory=list)
    state_vectors: list[bytes] = field(default_factory=list)
    # (name, full-state update) of documents to throw things at
    bases: list[tuple[str, bytes]] = field(default_factory=list)


def _record(doc: crdt.Doc, out: list[bytes]):
    return doc.observe_updates(lambda u, origin: out.append(u))


def _edit_by_hand(doc: crdt.Doc) -> None:
    t = doc.get_text("t")
    a = doc.get_array("a")
    m = doc.get_map("m")
    t.insert(0, "héllo wörld 😀!")
    t.delete(2, 3)
    a.insert(
        0,
        [
            1,
            -2,
            2**40,
            -(2**60),
            1.5,
            float("inf"),
            None,
            True,
            UNDEFINED,
            "s",
            b"\x00\xff",
            {"k": [1, {"z": None}], "2": 1, "1": 0},
            [[]],
        ],
    )
    a.insert(3, [crdt.Map({"x": crdt.Text("nested"), "y": crdt.Array([crdt.Map({"deep": 1})])})])
    m["text"] = crdt.Text("in a map")
    m["arr"] = crdt.Array([1, 2, 3])
    m["n"] = 1
    m["n"] = 2
    del m["n"]
    with doc.transact(origin="bulk"):
        a[3]["x"].insert(0, ">")
        a[3]["y"][0]["deep"] = 2
        a.delete(0, 2)


def special_contents_update() -> bytes:
    """Content kinds our own API never writes: JSON (ref 2), embed, format, subdocument, XML types."""
    w = UpdateWriter()
    w.client(77, 0)
    w.item(parent="x", content=w.json_content(['{"a":1}', "undefined", "[1,2]"]))
    w.item(origin=(77, 2), content=w.embed_content('{"image":"i.png"}'))
    w.item(origin=(77, 3), content=w.format_content("bold", "true"))
    w.item(origin=(77, 4), content=w.string_content("bold text"))
    w.item(origin=(77, 13), content=w.format_content("bold", "null"))
    w.item(origin=(77, 14), content=w.doc_content("guid-1", {"gc": False}))
    w.item(origin=(77, 15), content=w.type_content(3, "p"))
    w.item(parent=(77, 16), content=w.type_content(6))
    w.item(parent=(77, 16), parent_sub="attr", content=w.any_content(["v"]))
    w.item(origin=(77, 16), content=w.type_content(5, "hook"))
    w.item(origin=(77, 19), content=w.type_content(4))
    w.item(origin=(77, 20), content=w.binary_content(b"\x01\x02"))
    w.item(origin=(77, 21), content=w.deleted_content(3))
    return w.finish(deletes={77: [(0, 1)]})


def build_corpus() -> Corpus:
    corpus = Corpus()
    for gc in (True, False):
        one = make_doc(1, ROOTS, gc=gc)
        two = make_doc(2, ROOTS, gc=gc)
        _record(one, corpus.updates)
        _record(two, corpus.updates)
        _edit_by_hand(one)
        corpus.state_vectors.append(two.encode_state_vector())
        sync(one, two)
        rng = random.Random(1234 if gc else 4321)
        for _ in range(40):
            doc = rng.choice([one, two])
            with doc.transact():
                for _ in range(rng.randint(1, 3)):
                    apply_op(doc, ROOTS, random_op(rng, doc, ROOTS))
            if rng.random() < 0.2:
                corpus.state_vectors.append(rng.choice([one, two]).encode_state_vector())
                sync(one, two)
        corpus.state_vectors.append(one.encode_state_vector())
        corpus.bases.append((f"edited gc={gc}", one.encode_state_as_update()))
        corpus.updates.append(one.encode_state_as_update())
        corpus.updates.append(one.encode_state_as_update(corpus.state_vectors[0]))
    corpus.bases.append(("empty", b"\x00\x00"))
    special = special_contents_update()
    corpus.updates.append(special)
    corpus.updates.append(crdt.merge_updates(corpus.updates[3:9]))
    corpus.updates.append(crdt.merge_updates([corpus.updates[2], corpus.updates[7]]))  # with Skips
    corpus.bases.append(("special contents", special))
    corpus.state_vectors += [b"\x00", bytes([2, 1, 5, 2, 9]), bytes([1, 0x81, 0x80, 0x01, 7])]
    return corpus


# -- writing updates by hand -----------------------------------------------------------------------


class UpdateWriter:
    """Writes a v1 update struct by struct, with no checks: for well-formed but hostile input.

    ``client(id, clock, n_structs=None)`` starts a client block (the struct count is filled in unless
    given); ``item(...)`` writes an Item; ``finish(deletes)`` adds the delete set.
    """

    def __init__(self) -> None:
        self.blocks: list[dict] = []

    def client(self, client: int, clock: int, n_structs: int | None = None) -> None:
        self.blocks.append({"client": client, "clock": clock, "n": n_structs, "enc": Encoder(), "count": 0})

    @property
    def _enc(self) -> Encoder:
        return self.blocks[-1]["enc"]

    def _bump(self) -> None:
        self.blocks[-1]["count"] += 1

    def gc(self, length: int) -> None:
        self._enc.write_u8(0)
        self._enc.write_var_uint(length)
        self._bump()

    def skip(self, length: int) -> None:
        self._enc.write_u8(10)
        self._enc.write_var_uint(length)
        self._bump()

    def item(
        self,
        content: tuple[int, bytes],
        origin=None,
        right_origin=None,
        parent=None,
        parent_sub: str | None = None,
        sub_flag: bool | None = None,
    ) -> None:
        ref, body = content
        enc = self._enc
        info = ref | (0x80 if origin else 0) | (0x40 if right_origin else 0)
        if parent_sub is not None or sub_flag:
            info |= 0x20
        enc.write_u8(info)
        if origin:
            enc.write_var_uint(origin[0])
            enc.write_var_uint(origin[1])
        if right_origin:
            enc.write_var_uint(right_origin[0])
            enc.write_var_uint(right_origin[1])
        if not origin and not right_origin:
            if isinstance(parent, str):
                enc.write_var_uint(1)
                enc.write_var_string(parent)
            else:
                enc.write_var_uint(0)
                enc.write_var_uint(parent[0])
                enc.write_var_uint(parent[1])
            if parent_sub is not None:
                enc.write_var_string(parent_sub)
        enc.write_bytes(body)
        self._bump()

    def finish(self, deletes: dict[int, list[tuple[int, int]]] | None = None) -> bytes:
        out = Encoder()
        out.write_var_uint(len(self.blocks))
        for b in self.blocks:
            out.write_var_uint(b["count"] if b["n"] is None else b["n"])
            out.write_var_uint(b["client"])
            out.write_var_uint(b["clock"])
            out.write_bytes(b["enc"].to_bytes())
        deletes = deletes or {}
        out.write_var_uint(len(deletes))
        for client, ranges in deletes.items():
            out.write_var_uint(client)
            out.write_var_uint(len(ranges))
            for clock, length in ranges:
                out.write_var_uint(clock)
                out.write_var_uint(length)
        return out.to_bytes()

    # content bodies: (ref, bytes)
    @staticmethod
    def _body(ref: int, write) -> tuple[int, bytes]:
        enc = Encoder()
        write(enc)
        return ref, enc.to_bytes()

    def string_content(self, s: str) -> tuple[int, bytes]:
        return self._body(4, lambda e: e.write_var_string(s))

    def any_content(self, values: list) -> tuple[int, bytes]:
        def write(e):
            e.write_var_uint(len(values))
            for v in values:
                e.write_any(v)

        return self._body(8, write)

    def json_content(self, texts: list[str]) -> tuple[int, bytes]:
        def write(e):
            e.write_var_uint(len(texts))
            for t in texts:
                e.write_var_string(t)

        return self._body(2, write)

    def deleted_content(self, n: int) -> tuple[int, bytes]:
        return self._body(1, lambda e: e.write_var_uint(n))

    def binary_content(self, b: bytes) -> tuple[int, bytes]:
        return self._body(3, lambda e: e.write_var_bytes(b))

    def embed_content(self, json_text: str) -> tuple[int, bytes]:
        return self._body(5, lambda e: e.write_var_string(json_text))

    def format_content(self, key: str, json_text: str) -> tuple[int, bytes]:
        def write(e):
            e.write_var_string(key)
            e.write_var_string(json_text)

        return self._body(6, write)

    def type_content(self, type_ref: int, name: str | None = None) -> tuple[int, bytes]:
        def write(e):
            e.write_var_uint(type_ref)
            if name is not None:
                e.write_var_string(name)

        return self._body(7, write)

    def doc_content(self, guid: str, opts: dict) -> tuple[int, bytes]:
        def write(e):
            e.write_var_string(guid)
            e.write_any(opts)

        return self._body(9, write)
