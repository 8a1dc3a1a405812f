"""Doc: a shared document, its root types, transactions and updates."""

from __future__ import annotations

import gc as cyclic_gc
import random
from collections.abc import Callable
from typing import Any, TypeVar, overload

from . import integration
from .delete_set import DeleteSet
from .encoding import MAX_SAFE_INTEGER, Encoder
from .fresh_load import can_load_into, load_into_empty
from .integration import apply_refs
from .store import StructStore
from .transaction import Transaction, begin, finish
from .types.array import Array
from .types.base import SharedType
from .types.map import Map
from .types.text import Text
from .update_decoder import UpdateView, decode_state_vector, read_update
from .update_encoder import encode_state_vector, write_structs

# Updates at least this big (a document's full state, a long absence) are applied with the cyclic GC
# paused: from about a thousand structs on, its repeated passes cost more than the work itself.
BULK_UPDATE_BYTES = 16 * 1024


_T = TypeVar("_T", bound=SharedType)


def new_client_id() -> int:
    """A random client id below 2**53 (safe in JavaScript)."""
    return random.getrandbits(53) or 1


class _TransactionContext:
    __slots__ = ("doc", "origin", "tr")

    def __init__(self, doc: Doc, origin: Any) -> None:
        self.doc = doc
        self.origin = origin
        self.tr: Transaction | None = None

    def __enter__(self) -> Transaction:
        doc = self.doc
        if doc._tr is not None:
            return doc._tr
        tr = self.tr = begin(doc, self.origin, True)
        return tr

    def __exit__(self, *exc) -> None:
        if self.tr is not None:
            finish(self.doc, self.tr)


class Doc:
    """A shared document: root types by name, transactions, and the Yjs v1 update format.

    ``client_id`` identifies this replica's edits; never give two live replicas the same one.
    With ``gc=False`` deleted content is kept (needed for snapshots and histories).
    """

    def __init__(self, client_id: int | None = None, gc: bool = True, gc_filter: Callable | None = None):
        if client_id is None:
            client_id = new_client_id()
        if not isinstance(client_id, int) or not 0 <= client_id <= MAX_SAFE_INTEGER:
            raise ValueError("client_id must be an int in [0, 2**53)")
        self.client_id = client_id
        self.gc = gc
        self.gc_filter = gc_filter
        self.store = StructStore()
        self.share: dict[str, SharedType] = {}
        self._tr: Transaction | None = None
        self._cleanups: list[Transaction] = []
        self._update_handlers: list[Callable] = []
        self._after_transaction: list[Callable] = []
        self._observed = 0

    # -- root types ------------------------------------------------------------------------------

    @overload
    def _root(self, name: str) -> SharedType: ...

    @overload
    def _root(self, name: str, cls: type[_T]) -> _T: ...

    def _root(self, name: str, cls: type[SharedType] = SharedType) -> SharedType:
        t = self.share.get(name)
        if t is None:
            t = cls()
            t._name = name
            t.doc = self
            self.share[name] = t
            self._observed += len(t._eh) + len(t._deh)
            return t
        if cls is SharedType or type(t) is cls:
            return t
        if type(t) is SharedType:
            typed = cls()
            typed._name = name
            typed.doc = self
            typed._take_over(t)
            self.share[name] = typed
            return typed
        raise TypeError(f"root {name!r} is a {type(t).__name__}, not a {cls.__name__}")

    def get_text(self, name: str) -> Text:
        """The root Text called ``name`` (created empty if it does not exist)."""
        return self._root(name, Text)

    def get_array(self, name: str) -> Array:
        """The root Array called ``name``."""
        return self._root(name, Array)

    def get_map(self, name: str) -> Map:
        """The root Map called ``name``."""
        return self._root(name, Map)

    def get(self, name: str, cls: type[_T]) -> _T:
        """The root of class ``cls`` called ``name``."""
        return self._root(name, cls)

    # -- transactions ----------------------------------------------------------------------------

    def transact(self, origin: Any = None) -> _TransactionContext:
        """``with doc.transact(origin=...) as tr:`` groups changes into one transaction and update.

        Nested calls join the outer transaction.
        """
        return _TransactionContext(self, origin)

    def observe_updates(self, callback: Callable[[bytes, Any], None]) -> Callable:
        """Call ``callback(update, origin)`` with each transaction's v1 update. Returns the callback."""
        self._update_handlers.append(callback)
        return callback

    def unobserve_updates(self, callback: Callable) -> None:
        self._update_handlers.remove(callback)

    def observe_after_transaction(self, callback: Callable[[Transaction], None]) -> Callable:
        """Call ``callback(transaction)`` after observers, before GC, for every transaction."""
        self._after_transaction.append(callback)
        return callback

    def unobserve_after_transaction(self, callback: Callable) -> None:
        self._after_transaction.remove(callback)

    # -- updates ---------------------------------------------------------------------------------

    def encode_state_vector(self) -> bytes:
        """This document's state vector (v1)."""
        return encode_state_vector(self.store.state_vector())

    def state_vector(self) -> dict[int, int]:
        """This document's state vector as a dict (client -> next clock)."""
        return self.store.state_vector()

    def encode_state_as_update(self, state_vector: bytes | None = None) -> bytes:
        """Everything a peer with ``state_vector`` is missing (everything, without one), as a v1 update.

        Pending structs and deletions (waiting for missing updates) are included, as in Yjs.
        """
        sv = decode_state_vector(state_vector) if state_vector else {}
        enc = Encoder()
        write_structs(enc, self.store, sv)
        DeleteSet.from_store(self.store).write(enc)
        update = enc.to_bytes()
        store = self.store
        if store.pending is None and store.pending_ds is None:
            return update
        from .updates import diff_update, encode_refs, merge_updates

        parts = [update]
        if store.pending_ds is not None:
            ds = DeleteSet()
            ds.clients = store.pending_ds
            parts.append(encode_refs({}, ds))
        if store.pending is not None:
            parts.append(diff_update(encode_refs(store.pending, DeleteSet()), state_vector or b"\x00"))
        return merge_updates(parts)

    def apply_update(self, update: bytes | UpdateView, origin: Any = None) -> None:
        """Apply a v1 update from a peer. A malformed one raises ``DecodeError`` and changes nothing.

        ``update`` may be an :class:`~crdt.inspect.UpdateView` (:func:`crdt.inspect.decode_update`): it
        is applied without decoding it again (its structs then belong to this document).
        """
        if len(update) >= BULK_UPDATE_BYTES and cyclic_gc.isenabled():
            # Tens of thousands of new objects, all kept: the cyclic GC would scan the growing heap
            # again and again while they are made. Pause it, then give the new objects their one
            # young-generation pass before returning (so no GC work is left for the caller).
            cyclic_gc.disable()
            try:
                self._apply_update(update, origin)
            finally:
                cyclic_gc.enable()
                cyclic_gc.collect(0)
            return
        self._apply_update(update, origin)

    def _apply_update(self, update: bytes | UpdateView, origin: Any) -> None:
        if isinstance(update, UpdateView):
            refs, ds = update.take()
        else:
            if not self.store.clients and integration.FAST_PATH and update.__class__ is bytes:
                # An empty document (opening one): decode and link in one pass when the update allows.
                if can_load_into(self) and load_into_empty(self, update, origin):
                    return
            refs, ds = read_update(update)
        tr = self._tr
        if tr is not None:
            apply_refs(tr, refs, ds)
            return
        tr = begin(self, origin, False)
        try:
            apply_refs(tr, refs, ds)
        finally:
            finish(self, tr)

    @property
    def pending(self) -> bool:
        """Whether some received structs or deletions wait for updates that have not arrived."""
        return self.store.pending is not None or self.store.pending_ds is not None

    def to_py(self) -> dict[str, Any]:
        """Every root type as plain data."""
        return {name: t.to_py() for name, t in self.share.items()}
