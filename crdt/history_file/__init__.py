"""History files: a :class:`~crdt.history.History` on disk, appended as it grows, safe against crashes.

The format is documented byte by byte in ``docs/file-format.md``. In short: an 8-byte magic, a framed
header, then framed records (12-byte frame: payload length, CRC-32 of the payload, CRC-32 of those
8 bytes; then a msgpack payload). Records are changes (deps written as back-references), branch
moves, checkpoints (the merged update of everything so far, with heads and the branch table),
parts (a record too big for one frame, split) and journal records (an accepted update not yet in a
change, made durable at once with :meth:`HistoryWriter.journal`; superseded by the change that
covers it, handed back by :attr:`HistoryWriter.pending_journal` until then).

Writing: one writer per file (an exclusive, non-blocking lock: ``flock``, or ``msvcrt.locking`` where
there is no ``fcntl``, see :mod:`crdt.files`); records are appended in batches,
each batch one ``write`` followed (with ``durable=True``, the default) by ``fdatasync`` before
:meth:`HistoryWriter.append` returns. Compaction writes a new file beside the old one and renames it
over it (``os.replace``), then syncs the directory. Readers take no lock, and see the journal records
no change supersedes yet as provisional changes (:meth:`HistoryFile.read`), so they show every
acknowledged edit.

Reading: a crash mid-append leaves a *torn tail*: a last record cut short. It is ignored (losing only
that unfinished record) and cut off the next time the file is opened for writing; either way it is
reported (:class:`TornTail`: :meth:`HistoryFile.load` and :attr:`HistoryWriter.repaired`), because a
file cut short by a bad copy looks the same and may have lost many records. Every other damage
(a bad checksum or a cut record with more data after it, a bad header) raises
:class:`HistoryFileError`, which names the file and byte offset, and the file is left untouched.

Links: a history file is never opened through a symbolic link, for reading or writing (a cloned repository
could ship one pointing anywhere): :class:`~crdt.files.UnsafeFileError` (an ``OSError``) says so.

Modules, one idea each: :mod:`.codec` (the format: constants, frames, records, errors), :mod:`.scan`
(bytes -> history), :mod:`.journal` (journal records and their covering), :mod:`.space` (dead bytes:
when to checkpoint, when to compact), :mod:`.disk` (reads, writes, syncs, the lock), :mod:`.writer`
(:class:`HistoryWriter`), :mod:`.file` (:class:`HistoryFile`).
"""

from .codec import (
    BRANCH,
    CHANGE,
    CHECKPOINT,
    DEFAULT_CHECKPOINT_BYTES,
    DEFAULT_MAX_RECORD,
    FORMAT,
    FRAME,
    FRAME_SIZE,
    JOURNAL,
    JOURNAL_VERSION,
    MAGIC,
    PART,
    RAW,
    VERSION,
    ZLIB,
    HistoryFileError,
    JournalEntry,
    TornTail,
)
from .disk import HistoryLockedError, UnsafeFileError
from .file import HistoryFile
from .writer import HistoryWriter

__all__ = [
    "HistoryFile",
    "HistoryWriter",
    "HistoryFileError",
    "JournalEntry",
    "TornTail",
    "HistoryLockedError",
    "UnsafeFileError",
    "MAGIC",
    "FORMAT",
    "VERSION",
    "FRAME",
    "FRAME_SIZE",
    "CHANGE",
    "BRANCH",
    "CHECKPOINT",
    "PART",
    "JOURNAL",
    "RAW",
    "ZLIB",
    "JOURNAL_VERSION",
    "DEFAULT_MAX_RECORD",
    "DEFAULT_CHECKPOINT_BYTES",
]
