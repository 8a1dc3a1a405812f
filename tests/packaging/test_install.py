"""The package as a user gets it: the wheel and the sdist, built once, installed in fresh virtualenvs.

Every install runs with no Node.js on ``PATH`` (the built JupyterLab extension ships inside both), with the
repository off ``sys.path`` (``PYTHONPATH`` dropped, the venvs' working directory outside the checkout) and
with ``HOME`` and the Jupyter paths pointing into the test's own folder, so only what was installed is seen.
Dependencies come from the normal package index (pip's cache makes the second install quick).

Needs ``build`` (in the ``test`` extra) and the built extension in ``jupyter_crdt/labextension`` (made by
``pip install -e .``); ``bash .ci/run`` provides both.
"""

from __future__ import annotations

import email.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO_ROOT, missing

pytestmark = pytest.mark.slow

BUILT_EXTENSION = REPO_ROOT / "jupyter_crdt" / "labextension"
# A fresh venv install downloads and unpacks JupyterLab and its dependencies: generous but bounded.
INSTALL_TIMEOUT = 600
# What a kernel must not load to run %crdt: the Jupyter server stack, and nbformat's validation machinery
# (jsonschema takes seconds to import on a busy machine; nbformat is imported where a notebook is read).
SERVER_STACK = ("jupyter_server", "jupyterlab", "tornado", "jupyter_server_fileid", "jupyter_server_ydoc")
NOT_AT_LOAD = (*SERVER_STACK, "nbformat", "jsonschema")


def clean_env(home: Path, venv: Path | None = None) -> dict[str, str]:
    """The environment of a user with nothing but ``venv``: no Node, no repository, no Jupyter config."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("JUPYTER_")
           and not k.startswith("PIP_REQUIRE")}
    # Keep the PATH entries that hold no node (a build must not find one); the venv's bin comes first.
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not (Path(d) / "node").exists() and not d.startswith(str(REPO_ROOT))]
    if venv is not None:
        dirs.insert(0, str(venv / "bin"))
    env["PATH"] = os.pathsep.join(dirs)
    env["HOME"] = str(home)
    env["IPYTHONDIR"] = str(home / ".ipython")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_PROGRESS_BAR"] = "off"
    assert shutil.which("node", path=env["PATH"]) is None, "node is still on PATH"
    return env


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = INSTALL_TIMEOUT) -> str:
    """Run ``cmd``; its output (stdout and stderr together). Fails the test with the output on an error."""
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-6000:]}"
    return r.stdout


def fresh_venv(path: Path, env: dict[str, str]) -> Path:
    run([sys.executable, "-m", "venv", str(path)], env, path.parent, timeout=120)
    return path


def pip_install(venv: Path, env: dict[str, str], *args: str) -> None:
    # --no-compile: byte-compiling JupyterLab and its dependencies is a large part of an install's time
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "--no-compile", *args], env, venv.parent)


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel, built once per session by ``python -m build`` (sdist, then the wheel from
    the unpacked sdist) with no Node.js on ``PATH``."""
    if importlib.util.find_spec("build") is None:
        missing("`build` is not installed (pip install -e '.[test]')")
    if not (BUILT_EXTENSION / "static" / "style.js").is_file():
        missing(f"the JupyterLab extension is not built in {BUILT_EXTENSION} (pip install -e . builds it)")
    base = tmp_path_factory.mktemp("dist")
    out = base / "dist"
    home = base / "home"
    home.mkdir()
    env = clean_env(home)
    # The build runs in this Python (`build` may come from PYTHONPATH); the checkout need not be on it.
    keep = [d for d in os.environ.get("PYTHONPATH", "").split(os.pathsep) if d and Path(d) != REPO_ROOT]
    if keep:
        env["PYTHONPATH"] = os.pathsep.join(keep)
    run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO_ROOT)], env, base)
    wheels = list(out.glob("jupyter_crdt-*-py3-none-any.whl"))
    sdists = list(out.glob("jupyter_crdt-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(z.read(name).decode("utf-8"))


def requirement(meta, name: str) -> Requirement:
    reqs = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    found = [r for r in reqs if r.name.replace("_", "-").lower() == name and r.marker is None]
    assert len(found) == 1, f"{name} is not a dependency: {[str(r) for r in reqs]}"
    return found[0]


@pytest.mark.timeout(INSTALL_TIMEOUT)  # the first test builds the distributions
def test_wheel_metadata(dists):
    wheel = dists["wheel"]
    meta = wheel_metadata(wheel)
    assert meta["Name"] == "jupyter-crdt"
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert meta.get_all("License-File") == ["LICENSE"]
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        license_text = z.read(next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))).decode()
        data = f"jupyter_crdt-{meta['Version']}.data/data/"
        ext = data + "share/jupyter/labextensions/jupyter-crdt/"
        assert ext + "static/style.js" in names and ext + "install.json" in names
        ext_package = json.loads(z.read(ext + "package.json"))
        assert data + "etc/jupyter/jupyter_server_config.d/jupyter_crdt.json" in names
        # the test data and the sources of the extension are not installed
        assert not [n for n in names if n.startswith(("tests/", "labextension/", "benchmarks/"))]
    assert "BSD 3-Clause License" in license_text
    assert "Copyright (c) 2026, jupyter-crdt developers" in license_text

    classifiers = meta.get_all("Classifier")
    for c in ("Framework :: Jupyter :: JupyterLab :: Extensions :: Prebuilt",
              "Framework :: Jupyter :: JupyterLab :: 4", "Programming Language :: Python :: 3 :: Only"):
        assert c in classifiers
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())

    lab = requirement(meta, "jupyterlab")
    # The extension is built against @jupyterlab/application ^4.N: JupyterLab must be >= 4.N and < 5.
    frontend = re.fullmatch(r"\^(\d+)\.(\d+)\.\d+", ext_package["dependencies"]["@jupyterlab/application"])
    major, minor = int(frontend[1]), int(frontend[2])
    assert lab.specifier.contains(f"{major}.{minor}.0")
    assert not lab.specifier.contains(f"{major}.{minor - 1}.99")
    assert not lab.specifier.contains(f"{major + 1}.0.0") and not lab.specifier.contains("4.2.7")
    for name in ("jupyter-docprovider", "jupyter-collaboration-ui"):
        spec = requirement(meta, name).specifier
        assert spec.contains("3.0.4"), (name, spec)
        assert not spec.contains("3.0.3") and not spec.contains("4.0.0"), (name, spec)
    for name in ("ipython", "ipywidgets", "jupyter-server", "nbformat", "msgpack"):
        requirement(meta, name)


def test_sdist_ships_the_built_extension(dists):
    with tarfile.open(dists["sdist"]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert "jupyter_crdt/labextension/static/style.js" in names
    assert "jupyter_crdt/labextension/package.json" in names
    assert {"LICENSE", "pyproject.toml", "README.md", "labextension/package.json"} <= names
    assert not [n for n in names if "node_modules" in n or n.startswith("tests/data")]


def plain(text: str) -> str:
    """``text`` without terminal colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def check_installed(venv: Path, env: dict[str, str], cwd: Path) -> None:
    """JupyterLab and jupyter_server both list the extension as enabled and OK."""
    labs = plain(run([str(venv / "bin" / "jupyter"), "labextension", "list"], env, cwd, timeout=120))
    assert re.search(r"^\s*jupyter-crdt v\S+ enabled OK \(python, jupyter-crdt\)$", labs, re.M), labs
    assert "not compatible" not in labs and " X" not in labs, labs
    jupyter = str(venv / "bin" / "jupyter")
    servers = plain(run([jupyter, "server", "extension", "list"], env, cwd, timeout=120))
    assert re.search(r"^\s*jupyter_crdt enabled$", servers, re.M), servers
    assert re.search(r"^\s*- Validating jupyter_crdt\.\.\.\n\s*jupyter_crdt \S+ OK$", servers, re.M), servers


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installs_without_node_and_is_enabled(kind, dists, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    venv = fresh_venv(tmp_path / "venv", clean_env(home))
    env = clean_env(home, venv)
    # Installed by file name: the package index is used for the dependencies only.
    pip_install(venv, env, str(dists[kind]))
    check_installed(venv, env, tmp_path)
    if kind == "wheel":
        # A JupyterLab the extension was not built for is refused by the resolver, not installed.
        r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run",
                            str(dists["wheel"]), "jupyterlab==4.2.*"], env=env, cwd=tmp_path, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT)
        assert r.returncode != 0, r.stdout[-4000:]
        assert "ResolutionImpossible" in r.stdout or "conflicting dependencies" in r.stdout, r.stdout[-4000:]
        assert "Would install" not in r.stdout


@pytest.mark.timeout(INSTALL_TIMEOUT)
def test_magics_in_a_kernel_without_the_server_stack(dists, tmp_path):
    """``%load_ext jupyter_crdt`` and ``%crdt --help`` in an IPython with jupyter-crdt installed without its
    dependencies: neither needs (nor loads) jupyter_server, JupyterLab, tornado or nbformat.

    Only the engine's own requirement, msgpack (every history is msgpack), is installed beside IPython.
    """
    home = tmp_path / "home"
    home.mkdir()
    venv = fresh_venv(tmp_path / "venv", clean_env(home))
    env = clean_env(home, venv)
    py = str(venv / "bin" / "python")
    pip_install(venv, env, "--no-deps", str(dists["wheel"]))
    pip_install(venv, env, "ipython", "msgpack")
    for module in NOT_AT_LOAD:
        probe = subprocess.run([py, "-c", f"import {module}"], env=env, cwd=tmp_path, capture_output=True,
                               timeout=60)
        assert probe.returncode != 0, f"{module} is installed: the check below would prove nothing"
    cell = ("%load_ext jupyter_crdt\n%crdt --help\nimport sys\n"
            f"print('loaded:', sorted(m for m in {NOT_AT_LOAD!r} if m in sys.modules))")
    out = run([str(venv / "bin" / "ipython"), "--no-banner", "--colors=nocolor", "-c", cell], env, tmp_path,
              timeout=120)
    assert "usage: crdt" in out and "status" in out and "log" in out, out
    assert "loaded: []" in out, out
    assert "Traceback" not in out and "Error" not in out, out


def test_magics_module_imports_no_server_stack():
    """In the project's own environment (where the server stack is installed), importing the extension and
    its magics loads none of it: the kernel stays light."""
    code = ("import sys, jupyter_crdt, jupyter_crdt.magics\n"
            f"print(sorted(m for m in {NOT_AT_LOAD!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout
