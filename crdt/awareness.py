"""Awareness: the short-lived presence state (cursors, user names) that peers share beside a document.

This is the y-protocols awareness CRDT. Every client owns one JSON state and a clock; a state travels
as an *awareness update*::

    varuint count, then count × (varuint client, varuint clock, varstring JSON of the state)

where the JSON text ``null`` means "this client is gone". A receiver keeps an entry only if it is newer
(see :meth:`Awareness.apply_update` for the exact rules), so updates may be repeated, reordered or
broadcast to everyone without harm.

Nothing here runs on its own: the owner of an :class:`Awareness` calls :meth:`Awareness.check_timeouts`
every :data:`CHECK_INTERVAL` seconds (y-protocols uses a 3 s interval timer) and broadcasts what the
``update`` observers report. Time comes from an injectable clock, so tests never sleep.

Differences from y-protocols, all in the events only (the states, clocks and bytes are the same):

- A client whose state comes back after a removal is reported as *added* (y-protocols says *updated*).
- A remote removal of a client whose state we no longer hold is not a *change*; it is still an
  ``update`` (so a server relays it), also for a client never seen (y-protocols stays silent then).
- A remote attempt to delete our own live state is not a *change*; the ``update`` event lists our
  client under *updated* (y-protocols lists it under *removed*), so providers rebroadcast our state.
- Deep equality tells ``true`` from ``1`` (Python's ``==`` would not).
- Remote states nested deeper than :data:`MAX_STATE_DEPTH` are rejected as malformed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, TypedDict

from .decoding import Decoder
from .encoding import Encoder, js_json
from .errors import DecodeError

#: Remote states not refreshed for this many seconds are dropped (y-protocols' ``outdatedTimeout``).
OUTDATED_TIMEOUT = 30.0
#: Our own state is renewed once this many seconds have passed since it was last set.
RENEW_INTERVAL = OUTDATED_TIMEOUT / 2
#: How often the owner should call :meth:`Awareness.check_timeouts`, in seconds.
CHECK_INTERVAL = OUTDATED_TIMEOUT / 10
#: Deepest nesting accepted in a remote state; deeper input is treated as hostile.
MAX_STATE_DEPTH = 100

#: The origin of changes made through :meth:`Awareness.set_local_state`.
LOCAL_ORIGIN = "local"
#: The origin of removals made by :meth:`Awareness.check_timeouts`.
TIMEOUT_ORIGIN = "timeout"


class ClientMeta(TypedDict):
    """What an :class:`Awareness` remembers about a client, even after its state is gone."""

    clock: int
    last_updated: float


class AwarenessChanges(TypedDict):
    """The payload of awareness events: client ids, each list in the order the entries were seen."""

    added: list[int]
    updated: list[int]
    removed: list[int]


#: An awareness observer: called with the changes and the origin passed by whoever made them.
AwarenessObserver = Callable[[AwarenessChanges, Any], None]


class _HasClientId(Protocol):
    client_id: int


class Awareness:
    """The awareness states of every known client, with our own among them.

    ``doc`` only supplies :attr:`client_id`; it is read once, as in y-protocols. Like y-protocols,
    a new instance starts with the empty local state ``{}`` at clock 0.
    """

    def __init__(self, doc: _HasClientId, clock: Callable[[], float] = time.monotonic) -> None:
        self.doc = doc
        self.client_id: int = doc.client_id
        self._clock = clock
        self._states: dict[int, Any] = {}
        self._meta: dict[int, ClientMeta] = {}
        self._change_observers: list[AwarenessObserver] = []
        self._update_observers: list[AwarenessObserver] = []
        self._destroyed = False
        self.set_local_state({})

    # -- reading ---------------------------------------------------------------------------------

    @property
    def states(self) -> Mapping[int, Any]:
        """Client id → state, for every client whose state we hold (a live, read-only view)."""
        return MappingProxyType(self._states)

    @property
    def meta(self) -> Mapping[int, ClientMeta]:
        """Client id → :class:`ClientMeta`, kept after a state is removed (a live, read-only view)."""
        return MappingProxyType(self._meta)

    def get_local_state(self) -> Any:
        """Our own state, or ``None`` if we are marked offline."""
        return self._states.get(self.client_id)

    # -- local changes ---------------------------------------------------------------------------

    def set_local_state(self, state: Any) -> None:
        """Replace our own state (``None`` marks us offline) and advance our clock.

        The state must be JSON-serializable (checked here, so a bad value changes nothing). Fires
        ``change`` if the state really differs and ``update`` always, both with origin ``"local"``.
        """
        if state is not None:
            js_json(state)  # raises TypeError for values that cannot travel
        client = self.client_id
        previous_meta = self._meta.get(client)
        clock = 0 if previous_meta is None else previous_meta["clock"] + 1
        previous = self._states.get(client)
        if state is None:
            self._states.pop(client, None)
        else:
            self._states[client] = state
        self._meta[client] = {"clock": clock, "last_updated": self._clock()}

        changes = _empty_changes()
        updates = _empty_changes()
        if state is None:
            if previous is not None:
                changes["removed"].append(client)
            updates["removed"].append(client)
        elif previous is None:
            changes["added"].append(client)
            updates["added"].append(client)
        else:
            if not _json_equal(previous, state):
                changes["updated"].append(client)
            updates["updated"].append(client)
        self._emit(changes, updates, LOCAL_ORIGIN)

    def set_local_state_field(self, field: str, value: Any) -> None:
        """Set one field of our own state (a new dict is stored); does nothing while we are offline."""
        state = self.get_local_state()
        if state is None:
            return
        self.set_local_state({**state, field: value})

    def remove_states(self, clients: Iterable[int], origin: Any = None) -> None:
        """Forget the states of ``clients`` (their clocks are remembered).

        Removing our own state advances our clock, so the removal wins when it is broadcast.
        Fires ``change`` and ``update`` once, listing the clients whose state was held.
        """
        removed: list[int] = []
        for client in clients:
            if client not in self._states:
                continue
            del self._states[client]
            if client == self.client_id:
                self._meta[client] = {
                    "clock": self._meta[client]["clock"] + 1,
                    "last_updated": self._clock(),
                }
            removed.append(client)
        if removed:
            changes: AwarenessChanges = {"added": [], "updated": [], "removed": removed}
            self._emit(changes, {"added": [], "updated": [], "removed": list(removed)}, origin)

    def check_timeouts(self) -> None:
        """Do what y-protocols' 3-second timer does.

        Renews our own state (same state, clock + 1) once :data:`RENEW_INTERVAL` has passed since it
        was last set, then drops every remote state not refreshed for :data:`OUTDATED_TIMEOUT`, with
        origin ``"timeout"``.
        """
        now = self._clock()
        local = self.get_local_state()
        if local is not None and now - self._meta[self.client_id]["last_updated"] >= RENEW_INTERVAL:
            self.set_local_state(local)
        outdated = [
            client
            for client, meta in self._meta.items()
            if client != self.client_id
            and client in self._states
            and now - meta["last_updated"] >= OUTDATED_TIMEOUT
        ]
        if outdated:
            self.remove_states(outdated, TIMEOUT_ORIGIN)

    def destroy(self) -> None:
        """Mark ourselves offline (observers see the removal, so it can be broadcast), then drop observers."""
        if self._destroyed:
            return
        self._destroyed = True
        self.set_local_state(None)
        self._change_observers.clear()
        self._update_observers.clear()

    # -- the wire --------------------------------------------------------------------------------

    def encode_update(self, clients: Iterable[int] | None = None) -> bytes:
        """Encode the entries of ``clients`` (default: every client whose state we hold).

        A client we know only by its clock is written with the state ``null``. Raises ``KeyError``
        for a client never seen.
        """
        if clients is None:
            clients = list(self._states)
        else:
            clients = list(clients)
        enc = Encoder()
        enc.write_var_uint(len(clients))
        for client in clients:
            meta = self._meta.get(client)
            if meta is None:
                raise KeyError(f"unknown awareness client {client}")
            enc.write_var_uint(client)
            enc.write_var_uint(meta["clock"])
            enc.write_var_string(js_json(self._states.get(client)))
        return enc.to_bytes()

    def apply_update(self, update: bytes | memoryview, origin: Any = None) -> None:
        """Merge a remote awareness update.

        An entry is accepted if its clock is greater than the one we remember for that client, or
        equal with a ``null`` state while we still hold a state. As in y-protocols, a client never
        seen counts as clock 0, so a peer's initial state (clock 0) only spreads once it changes or
        is renewed. A remote ``null`` for our own live
        state is refused by advancing our clock instead (our next broadcast then wins). Clocks are
        remembered after removal, so stale entries stay rejected.

        The whole update is decoded before anything is applied: malformed input raises
        :class:`~crdt.errors.DecodeError` and changes nothing. Fires ``change`` for real differences
        and ``update`` for every accepted entry (refreshes included).
        """
        entries = decode_update(update)
        now = self._clock()
        own = self.client_id
        changes = _empty_changes()
        updates = _empty_changes()
        for client, clock, state in entries:
            meta = self._meta.get(client)
            known_clock = 0 if meta is None else meta["clock"]
            held = client in self._states
            if not (known_clock < clock or (known_clock == clock and state is None and held)):
                continue
            previous = self._states.get(client)
            if state is None and client == own and held:
                # Never let a remote peer delete our live state: outbid it instead.
                self._meta[client] = {"clock": clock + 1, "last_updated": now}
                updates["updated"].append(client)
                continue
            if state is None:
                self._states.pop(client, None)
            else:
                self._states[client] = state
            self._meta[client] = {"clock": clock, "last_updated": now}
            if state is None:
                if held:
                    changes["removed"].append(client)
                updates["removed"].append(client)
            elif not held:
                changes["added"].append(client)
                updates["added"].append(client)
            else:
                if not _json_equal(previous, state):
                    changes["updated"].append(client)
                updates["updated"].append(client)
        self._emit(changes, updates, origin)

    # -- observers -------------------------------------------------------------------------------

    def observe(self, callback: AwarenessObserver) -> AwarenessObserver:
        """Call ``callback(changes, origin)`` on every real change.

        Returns ``callback``, to pass to :meth:`unobserve`.
        """
        self._change_observers.append(callback)
        return callback

    def observe_update(self, callback: AwarenessObserver) -> AwarenessObserver:
        """Call ``callback(changes, origin)`` whenever entries are accepted, even unchanged refreshes.

        This is the event providers broadcast on. Returns ``callback`` for :meth:`unobserve`.
        """
        self._update_observers.append(callback)
        return callback

    def unobserve(self, callback: AwarenessObserver) -> None:
        """Stop calling ``callback`` (registered with :meth:`observe` or :meth:`observe_update`)."""
        for observers in (self._change_observers, self._update_observers):
            if callback in observers:
                observers.remove(callback)

    def _emit(self, changes: AwarenessChanges, updates: AwarenessChanges, origin: Any) -> None:
        if changes["added"] or changes["updated"] or changes["removed"]:
            for callback in list(self._change_observers):
                callback(changes, origin)
        if updates["added"] or updates["updated"] or updates["removed"]:
            for callback in list(self._update_observers):
                callback(updates, origin)


def decode_update(update: bytes | memoryview) -> list[tuple[int, int, Any]]:
    """Decode an awareness update into ``(client, clock, state)`` triples (``None`` for removal).

    Raises :class:`~crdt.errors.DecodeError` for truncated data, invalid UTF-8 or JSON (JavaScript's
    ``JSON.parse`` rules: no ``NaN``/``Infinity``), or states nested deeper than :data:`MAX_STATE_DEPTH`.
    Bytes after the last entry are ignored, as lib0 does.
    """
    dec = Decoder(update)
    count = dec.read_var_uint()
    if count > dec.remaining():
        raise DecodeError("awareness entry count exceeds data")
    entries: list[tuple[int, int, Any]] = []
    for _ in range(count):
        client = dec.read_var_uint()
        clock = dec.read_var_uint()
        entries.append((client, clock, _parse_state(dec.read_var_string())))
    return entries


def _parse_state(text: str) -> Any:
    try:
        state = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise DecodeError(f"invalid JSON in awareness state: {e}") from None
    if _depth_exceeds(state, MAX_STATE_DEPTH):
        raise DecodeError("awareness state nested too deeply")
    return state


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children: Iterable[Any] = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((c, depth + 1) for c in children)
    return False


def _json_equal(a: Any, b: Any) -> bool:
    """Deep equality of JSON values, telling booleans from numbers (iterative: no recursion limit)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, bool) or isinstance(y, bool):
            if x is not y:
                return False
        elif isinstance(x, (int, float)) and isinstance(y, (int, float)):
            if x != y:
                return False
        elif isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif type(x) is not type(y) or x != y:
            return False
    return True


def _empty_changes() -> AwarenessChanges:
    return {"added": [], "updated": [], "removed": []}


__all__ = [
    "CHECK_INTERVAL",
    "OUTDATED_TIMEOUT",
    "RENEW_INTERVAL",
    "Awareness",
    "AwarenessChanges",
    "AwarenessObserver",
    "ClientMeta",
    "decode_update",
]
