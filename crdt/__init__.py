"""crdt: a pure-Python CRDT engine that speaks Yjs's wire protocol (v1 updates, y-protocols).

Public API (see ``docs/crdt.md``)::

    doc = crdt.Doc()
    text = doc.get_text("t"); text.insert(0, "hello")
    update = doc.encode_state_as_update()
    other = crdt.Doc(); other.apply_update(update)

Tools that look inside documents and updates use :mod:`crdt.inspect`; file primitives are in
:mod:`crdt.files`; decoding bounds in :mod:`crdt.limits`; the y-protocols conversation in :mod:`crdt.sync`.
Nothing else of the package is public.
"""

from . import files, inspect, sync
from .awareness import CHECK_INTERVAL as AWARENESS_CHECK_INTERVAL
from .awareness import Awareness
from .decoding import Decoder
from .doc import Doc
from .encoding import UNDEFINED, Encoder
from .errors import DecodeError
from .events import Event
from .files import UnsafeFileError
from .history import DEFAULT_IDLE, Change, ChangeGrouper, History, MissingDependencyError
from .history_file import HistoryFile, HistoryFileError, HistoryLockedError, HistoryWriter, TornTail
from .snapshot import (
    Snapshot,
    array_at,
    create_doc_from_snapshot,
    empty_snapshot,
    is_visible,
    map_at,
    snapshot,
    snapshot_contains_update,
    text_at,
    text_delta_at,
    to_py_at,
)
from .transaction import Transaction
from .types.array import Array
from .types.base import SharedType
from .types.map import Map
from .types.text import Text
from .types.xml import XmlElement, XmlFragment, XmlHook, XmlText
from .undo_manager import StackItem, UndoManager
from .updates import diff_update, merge_updates, state_vector_from_update

__all__ = [
    "Doc", "Text", "Array", "Map", "SharedType", "Event", "Transaction", "DecodeError", "UNDEFINED",
    "XmlElement", "XmlFragment", "XmlHook", "XmlText",
    "merge_updates", "diff_update", "state_vector_from_update",
    "sync", "Awareness", "UndoManager", "StackItem",
    "History", "Change", "ChangeGrouper", "MissingDependencyError",
    "HistoryFile", "HistoryFileError", "HistoryLockedError",
    "Snapshot", "snapshot", "empty_snapshot", "create_doc_from_snapshot", "to_py_at", "text_at", "array_at",
    "map_at", "text_delta_at", "is_visible", "snapshot_contains_update",
    # for tools (jupyter_crdt): item and update helpers, file primitives, lib0 encoding, history writing
    "inspect", "files", "UnsafeFileError", "Encoder", "Decoder", "AWARENESS_CHECK_INTERVAL",
    "DEFAULT_IDLE", "HistoryWriter", "TornTail",
]
