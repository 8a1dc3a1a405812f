"""``%crdt share`` and ``get``: values shared between every collaborator's kernel, through the room.

A variable shared or got is *bound*: after each cell this kernel sends the new value of a bound variable
it changed, and a value another kernel changed is written into the variable when it arrives.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from IPython.display import display

from jupyter_crdt.client import NotebookSession, RoomClient, RoomClientError, SharedText
from jupyter_crdt.magics import render
from jupyter_crdt.magics.connection import KernelConnection
from jupyter_crdt.magics.parser import fail

__all__ = ["SharedValues"]

#: Variable names `%crdt share` refuses without --force: shared values are kept in the history.
_SECRET_NAME = re.compile(r"key|token|secret|password", re.IGNORECASE)


def _same_json(a: Any, b: Any) -> bool:
    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError):
        return False


class SharedValues:
    """The variables bound to shared values, per branch, and the commands that bind them."""

    def __init__(self, connection: KernelConnection) -> None:
        self.connection = connection
        # (branch, name) -> the value last synced for a plain shared value bound to the variable NAME
        self._bound: dict[tuple[str, str], Any] = {}
        self._observed: set[str] = set()

    @property
    def user_ns(self) -> dict[str, Any]:
        """The kernel's variables (looked up each time: the shell may replace its namespace)."""
        ns: dict[str, Any] = self.connection.shell.user_ns
        return ns

    def share(self, k: KernelConnection, args: argparse.Namespace) -> None:
        if _SECRET_NAME.search(args.name) and not args.force:
            fail("share", f"{args.name!r} looks like a secret's name, and shared values are stored in the "
                 "notebook's history (which is often committed); pass --force to share it anyway")
        s = k.session(args)
        k.need_server(args, s, "sharing values (they live in the live notebook's document)")
        if args.name not in self.user_ns:
            fail("share", f"no variable {args.name!r} in this kernel")
        value = self.user_ns[args.name]
        if isinstance(value, SharedText):
            value = str(value)
        client = k.client(s)
        try:
            client.set_shared(args.name, value, text=args.text)
        except ValueError as e:
            fail("share", f"{e}; share it with --text, or share a JSON-like value")
        self._bind(s, client, args.name)
        kind = "a collaborative text" if args.text else "a value"
        display(render.message(f"shared {args.name} as {kind} on branch {s.branch}: every collaborator's "
                               f"kernel reads it with `%crdt get {args.name}`"))

    def get(self, k: KernelConnection, args: argparse.Namespace) -> Any:
        s = k.session(args)
        k.need_server(args, s, "shared values (they live in the live notebook's document)")
        client = k.client(s)
        try:
            value = client.get_shared(args.name)
        except KeyError:
            names = client.shared_names()
            fail("get", f"no shared value {args.name!r} (shared: {', '.join(names) if names else 'none'})")
        self._bind(s, client, args.name)
        return value

    def _bind(self, s: NotebookSession, client: RoomClient, name: str) -> None:
        """Keep the variable ``name`` and the shared value in step (both ways) from now on."""
        value = client.get_shared(name)
        self.user_ns[name] = value
        if isinstance(value, SharedText):
            self._bound.pop((s.branch, name), None)
        else:
            self._bound[(s.branch, name)] = value
        if s.branch not in self._observed:
            self._observed.add(s.branch)
            branch = s.branch

            def on_remote(changed: dict[str, Any]) -> None:
                # runs on the client's thread: a dict assignment is atomic under the GIL
                for key, val in changed.items():
                    if (branch, key) in self._bound:
                        self._bound[(branch, key)] = val
                        self.user_ns[key] = val

            client.observe_shared(on_remote)

    def push(self, result: Any = None) -> None:
        """After each cell: send the bound variables this kernel changed."""
        for (branch, name), last in list(self._bound.items()):
            client = self.connection.clients.get(branch)
            if client is None or not client.alive or name not in self.user_ns:
                continue
            value = self.user_ns[name]
            if _same_json(value, last):
                continue
            try:
                client.set_shared(name, value)
                self._bound[(branch, name)] = json.loads(json.dumps(value))
            except (ValueError, RoomClientError) as e:
                print(f"%crdt: could not share the new value of {name}: {e}")
