"""Browser users for the end-to-end tests: log in once with ``?token=user-NAME``, then stay NAME.

The server tests' :class:`~tests.jupyter_crdt.server.auth.TokenUsers` knows a user only while every
request carries the token. A browser does not do that: JupyterLab sends the page config's single
server token with its HTTP calls (which would make everyone the same user) and nothing at all with its
websockets (same origin: it relies on the login cookie). So here a token still names the user, and the
first token request also sets the login cookie; the server runs with an empty server token, so the page
config carries none and every later request of that browser context is identified by its cookie.
"""

from __future__ import annotations

from jupyter_server.auth.identity import User

from tests.jupyter_crdt.server.auth import TokenUsers

#: Fixed cursor colours, so the screenshots show the two users the same way every run.
USER_COLORS = {"alice": "#c2185b", "bob": "#1565c0"}


class BrowserUsers(TokenUsers):
    """``user-NAME`` / ``reader-NAME`` tokens as in :class:`TokenUsers`, remembered in the login cookie."""

    def get_user(self, handler):  # type: ignore[override]
        token_user = super().get_user(handler)
        if token_user is not None:
            user = _styled(token_user)
            if self.get_user_cookie(handler) != user:
                self.set_login_cookie(handler, user)
            return user
        return self.get_user_cookie(handler)


def _styled(user: User) -> User:
    """The user with initials and a fixed colour (JupyterLab shows both beside the remote cursor)."""
    initials = user.username.removeprefix("reader-")[:1].upper()
    return User(
        username=user.username,
        name=user.name,
        display_name=user.display_name,
        initials=initials,
        color=USER_COLORS.get(user.username),
    )
