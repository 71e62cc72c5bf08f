"""The converter's own virtual environment, created once and cached like pip's isolated builds.

The cache key is a hash of ``requirements.txt``, the Python version and the machine, so a changed
pin builds a fresh environment beside the old one and never mutates one in use. An environment is
usable only once its completion marker exists; a half-built one (killed install) is removed and
rebuilt. A file lock serialises concurrent builders (two ``farm models build`` at once).

Location: ``FARM_CONVERTER_CACHE`` if set, else ``$XDG_CACHE_HOME/tflite-farm/converter``
(``~/.cache/tflite-farm/converter``): outside FARM_HOME on purpose, so every farm home and every
test run on a machine shares the one ~1.6 GB environment.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from orchestrator.errors import CatalogError

__all__ = ["REQUIREMENTS", "cache_root", "ensure_env", "env_key", "requirement_count"]

REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
_MARKER = ".farm-converter-complete"


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("FARM_CONVERTER_CACHE"):
        return Path(env["FARM_CONVERTER_CACHE"]).expanduser()
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tflite-farm" / "converter"


def env_key(requirements: Path = REQUIREMENTS) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    digest.update(platform.machine().encode())
    return digest.hexdigest()[:16]


def requirement_count(requirements: Path = REQUIREMENTS) -> int:
    """The pinned packages pip installs (what a progress bar over the install counts)."""
    return sum(1 for line in requirements.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.lstrip().startswith("#"))


def _python(folder: Path) -> Path:
    return folder / "bin" / "python"


def _run(argv: list[str], on_line: Callable[[str], None] | None, what: str) -> None:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        tail = [*tail[-19:], line.rstrip()]
        if on_line:
            on_line(line.rstrip())
    if process.wait() != 0:
        raise CatalogError(
            f"{what} failed (exit {process.returncode}):\n" + "\n".join(tail),
            hint="the converter environment installs TensorFlow from PyPI: check that PyPI is "
                 "reachable, or set FARM_CONVERTER_CACHE to a folder holding a built environment",
        )


def ensure_env(root: Path | None = None, *, requirements: Path = REQUIREMENTS,
               on_line: Callable[[str], None] | None = None) -> Path:
    """Return the converter environment's python, building the environment if needed."""
    root = cache_root() if root is None else root
    folder = root / env_key(requirements)
    if (folder / _MARKER).is_file():
        return _python(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f"{folder.name}.lock", "w")  # noqa: SIM115 - held for the whole build
    except OSError as exc:
        raise CatalogError(f"cannot use the converter cache {root}: {exc.strerror}",
                           hint="set FARM_CONVERTER_CACHE to a writable folder") from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / _MARKER).is_file():  # another process finished it while we waited
            return _python(folder)
        shutil.rmtree(folder, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(folder)], on_line, "creating the converter venv")
        _run([str(_python(folder)), "-m", "pip", "install", "--disable-pip-version-check",
              "--no-input", "--progress-bar", "off", "-r", str(requirements)],
             on_line, "installing the converter requirements")
        (folder / _MARKER).write_text(requirements.read_text(encoding="utf-8"), encoding="utf-8")
    return _python(folder)
