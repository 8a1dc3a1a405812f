"""Test-only identity and authorization for the servers the tests start.

A token ``user-NAME`` authenticates as user NAME with every permission; ``reader-NAME`` as user
``reader-NAME`` who may only read (the ``contents`` resource's ``read`` action, nothing else).
"""

from __future__ import annotations

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User


class TokenUsers(IdentityProvider):
    """One user per token: ``user-alice`` is alice, ``reader-bob`` is the read-only reader-bob."""

    def get_user(self, handler):  # type: ignore[override]
        token = self.get_token(handler)
        if not token:
            return None
        if token.startswith("user-"):
            name = token[len("user-"):]
        elif token.startswith("reader-"):
            name = token
        else:
            return None
        handler._token_authenticated = True  # token requests need no XSRF cookie
        return User(username=name, name=name, display_name=name)


class ReadersReadOnly(Authorizer):
    """Users whose name starts with ``reader-`` may only read."""

    def is_authorized(self, handler, user, action, resource):  # type: ignore[override]
        if user.username.startswith("reader-"):
            return action == "read"
        return True
