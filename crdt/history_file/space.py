"""Where a history file's bytes go: what decides when a writer checkpoints and when it compacts."""

from __future__ import annotations


class Space:
    """The byte accounting of one history file, kept by the scan that reads it and the writer after it.

    ``dead``: bytes of superseded records (older checkpoints, moved or deleted branches' records,
    covered journal records), which compaction drops. ``since_checkpoint``: update bytes of the changes
    after the last checkpoint (the replay work a new checkpoint saves); ``checkpoint_update`` and
    ``checkpoint_size``: the update and record bytes of the last checkpoint; ``branch_sizes``: the bytes
    of each branch's latest branch record since then.
    """

    __slots__ = ("dead", "since_checkpoint", "checkpoint_update", "checkpoint_size", "branch_sizes")

    def __init__(self) -> None:
        self.dead = 0
        self.since_checkpoint = 0
        self.checkpoint_update = 0
        self.checkpoint_size = 0
        self.branch_sizes: dict[str, int] = {}

    def change(self, update_bytes: int) -> None:
        """A change record holding an update of ``update_bytes`` was written."""
        self.since_checkpoint += update_bytes

    def branch(self, name: str, nbytes: int, *, deleted: bool) -> None:
        """A record of ``nbytes`` moved branch ``name`` (0 bytes: noted in a change record): the branch's
        previous record is dead, and so is this one when it deletes the branch."""
        self.dead += self.branch_sizes.pop(name, 0)
        if deleted:
            self.dead += nbytes
        else:
            self.branch_sizes[name] = nbytes

    def checkpoint(self, nbytes: int, update_bytes: int) -> None:
        """A checkpoint record of ``nbytes`` holding an update of ``update_bytes`` was written: the previous
        checkpoint and the branch records before it are dead (it holds the branch table)."""
        self.dead += self.checkpoint_size + sum(self.branch_sizes.values())
        self.branch_sizes = {}
        self.checkpoint_size = nbytes
        self.checkpoint_update = update_bytes
        self.since_checkpoint = 0

    def wants_checkpoint(self, threshold: int | None) -> bool:
        """Whether the changes since the last checkpoint hold ``threshold`` update bytes (None: never),
        and at least as many as that checkpoint's update (so checkpoints cost at most the changes)."""
        return threshold is not None and self.since_checkpoint >= max(threshold, self.checkpoint_update)

    def wants_compaction(self, size: int) -> bool:
        """Whether superseded records make up more than half of the ``size`` bytes of the file."""
        return self.dead * 2 > size
