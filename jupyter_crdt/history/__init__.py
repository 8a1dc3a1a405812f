"""Histories: each document's history in its sidecar file, and everything done with histories.

The history of ``NAME`` lives beside it in ``.NAME.crdt`` (``docs/file-format.md``): every change with its
author, time and kind, the ``main`` branch (the document) and ``written`` (what the file holds). This
package opens histories and keeps them in step with their files (:class:`NotebookHistory`,
:class:`TextHistory`), moves, copies, deletes and sets aside sidecars with their files, and works on
histories: logs, blame, versions (``REV``), merges (:func:`merge`, one entry point with named strategies),
squash and purge, and git's merge and diff drivers.

It is a library, with no server and no command line: the ``jupyter crdt`` command, the ``%crdt`` magics and
the server extension are built on it. It imports only the layers below it (``jupyter_crdt.notebook``,
``jupyter_crdt.text``, ``jupyter_crdt.progress`` and the engine ``crdt``).
"""

from jupyter_crdt.history.blame import CellNotFound, Line, blame_cell, blame_text, find_cell
from jupyter_crdt.history.changes import notebook_at
from jupyter_crdt.history.crdtlog import LogStore, log_path
from jupyter_crdt.history.disk import UNEXPLAINED_NOTE, file_is_newer, recorded_version
from jupyter_crdt.history.document import (
    DISK_AUTHOR,
    IMPORT_AUTHOR,
    MAIN,
    ORIGINS,
    WRITTEN,
    DocumentHistory,
    Edit,
)
from jupyter_crdt.history.git import (
    ConfigGitRefused,
    GitError,
    config_git,
    diff_driver,
    merge_driver,
    merge_pair,
    textconv_history,
)
from jupyter_crdt.history.log import ChangeSummary, summarize, visible_log
from jupyter_crdt.history.merge import (
    MERGE_AUTHOR,
    STRATEGIES,
    MergeResult,
    NoCommonHistory,
    NoMergeBase,
    Strategy,
    VersionMerge,
    closest_version,
    merge,
    merge_histories,
    merge_versions,
)
from jupyter_crdt.history.notebook import (
    NotebookHistory,
    export_notebook,
    notebook_text,
    same_content,
    start_history,
    sync_notebook,
)
from jupyter_crdt.history.rewrite import RewriteReport, purge, squash
from jupyter_crdt.history.sidecar import (
    copy_history,
    delete_history,
    has_history,
    is_sidecar,
    move_history,
    notebook_path_of,
    set_aside,
    sidecar_mode,
    sidecar_path,
    write_history,
)
from jupyter_crdt.history.text import (
    TextChange,
    TextHistory,
    convert_log,
    is_text_file,
    start_text_history,
    text_log,
)
from jupyter_crdt.history.versions import RevisionError, resolve

__all__ = [
    # where histories live (sidecar files)
    "sidecar_path",
    "notebook_path_of",
    "is_sidecar",
    "has_history",
    "sidecar_mode",
    "move_history",
    "copy_history",
    "delete_history",
    "set_aside",
    "write_history",
    # open histories
    "DocumentHistory",
    "Edit",
    "NotebookHistory",
    "TextHistory",
    "MAIN",
    "WRITTEN",
    "IMPORT_AUTHOR",
    "DISK_AUTHOR",
    "ORIGINS",
    # a notebook's and a text file's content
    "start_history",
    "sync_notebook",
    "notebook_text",
    "same_content",
    "export_notebook",
    "notebook_at",
    "start_text_history",
    "is_text_file",
    "convert_log",
    "LogStore",
    "log_path",
    # files that disagree with their history
    "recorded_version",
    "file_is_newer",
    "UNEXPLAINED_NOTE",
    # merging
    "merge",
    "Strategy",
    "STRATEGIES",
    "MergeResult",
    "NoMergeBase",
    "NoCommonHistory",
    "merge_histories",
    "merge_versions",
    "VersionMerge",
    "closest_version",
    "MERGE_AUTHOR",
    # reading histories
    "summarize",
    "visible_log",
    "ChangeSummary",
    "text_log",
    "TextChange",
    "blame_cell",
    "blame_text",
    "find_cell",
    "CellNotFound",
    "Line",
    "resolve",
    "RevisionError",
    # rewriting histories
    "squash",
    "purge",
    "RewriteReport",
    # git
    "config_git",
    "merge_driver",
    "merge_pair",
    "diff_driver",
    "textconv_history",
    "GitError",
    "ConfigGitRefused",
]
