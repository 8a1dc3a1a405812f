"""A real JupyterLab (jupyter_server + jupyterlab + jupyter_crdt and its JupyterLab extension) for the
browser tests.

Built on the server tests' :class:`~tests.jupyter_crdt.server.server.JupyterServer` (same temp home,
same config, 127.0.0.1 and a free port), with what a browser needs on top: users identified by their
login cookie (:mod:`tests.e2e.users`), the JupyterLab application object exposed to the page (the
scenarios read the notebook model through it), no news pop-up over the notebook, and the same port
across restarts, so pages left open reconnect to the restarted server as they would in real life.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.jupyter_crdt.server.server import REPO_ROOT, JupyterServer

#: Where ``pip install`` builds our JupyterLab extension (from ``labextension/``).
BUILT_LABEXTENSION = REPO_ROOT / "jupyter_crdt" / "labextension"

#: Plugins that would only get in the way of the scenarios: the news prompt covers the notebook.
DISABLED_PLUGINS = ["@jupyterlab/apputils-extension:announcements"]


class LabServer(JupyterServer):
    """JupyterLab with jupyter_crdt on 127.0.0.1; keeps its first port across ``stop()``/``start()``."""

    def __init__(self, home: Path, **settings: Any) -> None:
        self._pinned_port = 0
        super().__init__(
            home,
            extra_args=[
                "--ServerApp.identity_provider_class=tests.e2e.users.BrowserUsers",
                # No server token: the page config must not hand every browser one shared identity.
                "--IdentityProvider.token=",
                "--LabApp.expose_app_in_browser=True",
                "--JupyterNotebookApp.expose_app_in_browser=True",
                "--LabApp.news_url=None",
            ],
            **settings,
        )
        self.labextension = self._link_labextension()
        if self.labextension is not None:
            # Inside a virtual env, jupyter_core puts the env's folders before the user's data folder
            # (JUPYTER_PREFER_ENV_PATH), so an installed copy would win over the link; an extra path
            # comes before both, for JupyterLab and Notebook 7 (both LabServerApps).
            self.extra_args.append(f"--LabServerApp.extra_labextensions_path={self.labextension.parent}")
        labconfig = home / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        disabled = {name: True for name in DISABLED_PLUGINS}
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}))

    def _link_labextension(self) -> Path | None:
        """Serve the working tree's build of our JupyterLab extension, as `jupyter labextension
        develop` would: linked into this server's own data folder, which is also given as
        `extra_labextensions_path` (see ``__init__``), so the pages test this
        checkout's extension whatever else is installed."""
        if not (BUILT_LABEXTENSION / "package.json").is_file():
            return None
        name = json.loads((BUILT_LABEXTENSION / "package.json").read_text())["name"]
        link = self.home / "data" / "labextensions" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(BUILT_LABEXTENSION, target_is_directory=True)
        return link

    # JupyterServer.start() draws a new free port each time; a restarted server must come back on the
    # old one, or the open pages (the point of the restart scenario) would have nothing to reconnect to.
    @property
    def port(self) -> int:
        return self._pinned_port

    @port.setter
    def port(self, value: int) -> None:
        if not self._pinned_port:
            self._pinned_port = value

    def ensure_running(self) -> None:
        """Start the server again (same home and port) if it is not running."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
