"""Downloads of the official model files: verified, resumable, atomic.

``download`` streams a URL into ``DEST.part``, resuming an existing part with an HTTP ``Range``
request (a server that ignores it restarts from zero), retries a dropped connection a few times from
where it stopped, then checks the size (the server's and the catalog's pin) and the sha256 pin. Only
a verified file is renamed onto ``DEST``: a reader never sees a half-written or wrong model. A size or
checksum mismatch deletes the part (its bytes are wrong, resuming would keep them); an interrupted
download keeps it so that the next ``farm models pull`` resumes.

``pull_official`` does that for catalog entries into ``FARM_HOME/models/official`` and registers each
file with provenance ``official``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from models.catalog import CatalogEntry
from models.registry import register_model
from orchestrator.config import Settings
from orchestrator.errors import CatalogError
from orchestrator.storage import session_scope

__all__ = ["DownloadResult", "Progress", "download", "official_path", "pull_official"]

#: progress(label, bytes_done, bytes_total_or_None)
Progress = Callable[[str, int, int | None], None]
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_USER_AGENT = "tflite-farm-zoo/1"


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size_bytes: int
    sha256: str
    resumed_from: int
    attempts: int
    seconds: float


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Restart(Exception):
    """The server sent the whole file: start the part over."""


def _open(url: str, offset: int, timeout_s: float
          ) -> tuple[http.client.HTTPResponse, int, int | None]:
    """Open ``url`` from ``offset``; return (response, actual start, total size or None)."""
    # download() admits only http(s) URLs
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})  # noqa: S310
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    response = urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != offset:
            response.close()
            raise _Restart
        total = None if match.group(3) == "*" else int(match.group(3))
        return response, offset, total
    length = response.headers.get("Content-Length")
    return response, 0, int(length) if length and length.isdigit() else None


def _fetch_once(url: str, part: Path, timeout_s: float, label: str,
                progress: Progress | None) -> int | None:
    """Append the rest of ``url`` to ``part``; return the total size the server announced."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response, start, total = _open(url, offset, timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # our part is already whole (or longer than the file)
            return None
        raise
    with response, open(part, "r+b" if part.exists() else "wb") as out:
        out.seek(start)
        out.truncate()
        done = start
        while chunk := response.read(1 << 16):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(label, done, total)
        out.flush()
        os.fsync(out.fileno())
    if total is not None and done < total:
        raise http.client.IncompleteRead(b"", total - done)
    return total


def _discard(part: Path, problem: str, url: str) -> CatalogError:
    part.unlink(missing_ok=True)
    return CatalogError(f"download of {url} failed verification: {problem}",
                        hint="the server sent a different file than the catalog pins; check the "
                             "URL and the pin in models/catalog.toml (nothing was kept)")


def download(url: str, dest: Path, *, sha256: str | None = None, size_bytes: int | None = None,
             timeout_s: float = 30.0, retries: int = 3, retry_wait_s: float = 0.5,
             progress: Progress | None = None, label: str | None = None) -> DownloadResult:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify it, rename it into place."""
    if not url.startswith(("http://", "https://")):
        raise CatalogError(f"cannot download {url!r}: only http(s) URLs are supported",
                           hint="fix the URL in models/catalog.toml")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if size_bytes is not None and part.exists() and part.stat().st_size > size_bytes:
        part.unlink()
    resumed_from = part.stat().st_size if part.exists() else 0
    started = time.monotonic()
    label = label or dest.name
    announced: int | None = None
    attempt = 0
    while True:
        attempt += 1
        try:
            announced = _fetch_once(url, part, timeout_s, label, progress) or announced
            break
        except _Restart:
            part.unlink(missing_ok=True)
        except urllib.error.HTTPError as exc:
            raise CatalogError(f"download of {url} failed: HTTP {exc.code} {exc.reason}",
                               hint="check the URL; TF Hub / Kaggle may have moved the file"
                               ) from exc
        except (OSError, http.client.HTTPException) as exc:  # dropped, reset, timed out, refused
            if attempt > retries:
                have = part.stat().st_size if part.exists() else 0
                raise CatalogError(
                    f"download of {url} failed after {attempt} attempts ({type(exc).__name__}: "
                    f"{exc}), with {have} bytes kept in {part}",
                    hint="run the same `farm models pull` again to resume; without network, "
                         "`farm models build` makes a replica offline",
                ) from exc
            time.sleep(retry_wait_s * attempt)
    size = part.stat().st_size
    for expected, what in ((announced, "the server announced"), (size_bytes, "the catalog pins")):
        if expected is not None and size != expected:
            raise _discard(part, f"got {size} bytes, {what} {expected}", url)
    digest = _sha256(part)
    if sha256 is not None and digest != sha256.lower():
        raise _discard(part, f"sha256 {digest}, the catalog pins {sha256}", url)
    os.replace(part, dest)
    return DownloadResult(dest, size, digest, resumed_from, attempt, time.monotonic() - started)


def official_path(settings: Settings, entry: CatalogEntry) -> Path:
    return settings.home_path / "models" / "official" / f"{entry.name}.tflite"


def pull_official(settings: Settings, entries: Iterable[CatalogEntry], *,
                  progress: Progress | None = None, force: bool = False
                  ) -> list[tuple[CatalogEntry, DownloadResult | None]]:
    """Download each entry's official file (``None``: already there) and register it."""
    results: list[tuple[CatalogEntry, DownloadResult | None]] = []
    for entry in entries:
        path = official_path(settings, entry)
        result = None
        if force or not path.is_file():
            result = download(entry.official.url, path, sha256=entry.official.sha256,
                              size_bytes=entry.official.size_bytes, progress=progress,
                              label=entry.name)
        with session_scope(settings) as db:
            register_model(db, path, name=entry.name, provenance="official",
                           catalog_name=entry.name,
                           metadata={"handle": entry.official.handle, "url": entry.official.url})
        results.append((entry, result))
    return results
