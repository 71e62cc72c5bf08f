"""Downloads against a real HTTP server on 127.0.0.1: verification, resume, clean failures."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from models.pull import download
from orchestrator.errors import CatalogError

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes, every offset distinguishable
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class Behaviour:
    drops: int = 0  # how many responses stop half-way through and close the socket
    drop_at: int = 300_000  # bytes of the body sent before a drop
    ignore_range: bool = False
    body: bytes = PAYLOAD
    ranges: list[str | None] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        b = self.server.behaviour  # type: ignore[attr-defined]
        if self.path != "/model.tflite":
            self.send_error(404)
            return
        header = self.headers.get("Range")
        b.ranges.append(header)
        match = re.fullmatch(r"bytes=(\d+)-", header or "")
        start = int(match.group(1)) if match and not b.ignore_range else 0
        if start >= len(b.body) and match and not b.ignore_range:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(b.body)}")
            self.end_headers()
            return
        body = b.body[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(b.body) - 1}/{len(b.body)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if b.drops > 0:
            b.drops -= 1
            self.wfile.write(body[: b.drop_at])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.behaviour = Behaviour()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/model.tflite", httpd.behaviour  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_verifies_and_renames(server: tuple[str, Behaviour], tmp_path: Path) -> None:
    url, behaviour = server
    seen: list[int] = []
    result = download(url, tmp_path / "m.tflite", sha256=SHA, size_bytes=len(PAYLOAD),
                      progress=lambda _label, done, _total: seen.append(done))
    assert (tmp_path / "m.tflite").read_bytes() == PAYLOAD
    assert result.sha256 == SHA and result.size_bytes == len(PAYLOAD) and result.resumed_from == 0
    assert seen[-1] == len(PAYLOAD) and not (tmp_path / "m.tflite.part").exists()
    assert behaviour.ranges == [None]


def test_wrong_checksum_keeps_nothing(server: tuple[str, Behaviour], tmp_path: Path) -> None:
    url, _ = server
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(CatalogError, match=f"sha256 {SHA}, the catalog pins {wrong}") as info:
        download(url, tmp_path / "m.tflite", sha256=wrong)
    assert "nothing was kept" in (info.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_wrong_size_pin_keeps_nothing(server: tuple[str, Behaviour], tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(CatalogError, match=f"got {len(PAYLOAD)} bytes, the catalog pins 1000"):
        download(url, tmp_path / "m.tflite", size_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_is_resumed_with_range(server: tuple[str, Behaviour], tmp_path: Path
                                                  ) -> None:
    url, behaviour = server
    behaviour.drops = 2
    result = download(url, tmp_path / "m.tflite", sha256=SHA, retry_wait_s=0.01)
    assert (tmp_path / "m.tflite").read_bytes() == PAYLOAD
    assert result.attempts == 3
    # each retry asked only for what was missing: the first drop kept 300,000 bytes, the second
    # (of the 206 rest) kept 300,000 more
    assert behaviour.ranges == [None, "bytes=300000-", "bytes=600000-"]


def test_failure_keeps_the_part_and_the_next_pull_resumes(server: tuple[str, Behaviour],
                                                          tmp_path: Path) -> None:
    url, behaviour = server
    behaviour.drops = 1
    dest = tmp_path / "m.tflite"
    with pytest.raises(CatalogError, match="300000 bytes kept") as info:
        download(url, dest, sha256=SHA, retries=0)
    assert "again to resume" in (info.value.hint or "")
    assert not dest.exists() and (tmp_path / "m.tflite.part").stat().st_size == 300_000
    result = download(url, dest, sha256=SHA, retries=0)
    assert result.resumed_from == 300_000 and dest.read_bytes() == PAYLOAD
    assert behaviour.ranges == [None, "bytes=300000-"]


def test_server_ignoring_range_restarts_cleanly(server: tuple[str, Behaviour], tmp_path: Path
                                                ) -> None:
    url, behaviour = server
    behaviour.ignore_range = True
    (tmp_path / "m.tflite.part").write_bytes(b"X" * 5000)  # stale bytes a resume would keep
    download(url, tmp_path / "m.tflite", sha256=SHA)
    assert (tmp_path / "m.tflite").read_bytes() == PAYLOAD


def test_complete_part_is_verified_not_refetched(server: tuple[str, Behaviour], tmp_path: Path
                                                 ) -> None:
    url, behaviour = server
    (tmp_path / "m.tflite.part").write_bytes(PAYLOAD)
    result = download(url, tmp_path / "m.tflite", sha256=SHA)
    assert behaviour.ranges == [f"bytes={len(PAYLOAD)}-"] and result.size_bytes == len(PAYLOAD)


def test_http_error_and_bad_scheme(server: tuple[str, Behaviour], tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(CatalogError, match="HTTP 404"):
        download(url.replace("model", "other"), tmp_path / "m.tflite")
    with pytest.raises(CatalogError, match="only http"):
        download("file:///etc/passwd", tmp_path / "m.tflite")
    assert list(tmp_path.iterdir()) == []


def test_pull_official_registers_the_file(server: tuple[str, Behaviour], farm_env: dict[str, str],
                                          tmp_path: Path) -> None:
    import dataclasses

    from models.builtin import build_builtin_models
    from models.catalog import OfficialSource, load_catalog
    from models.pull import official_path, pull_official
    from models.selection import select_all
    from orchestrator.config import load_settings
    from orchestrator.storage import session_scope

    url, behaviour = server
    behaviour.body = build_builtin_models(tmp_path / "b")["builtin-segmenter"].read_bytes()
    sha = hashlib.sha256(behaviour.body).hexdigest()
    entry = load_catalog().get("deeplabv3-official")
    entry = dataclasses.replace(entry, official=OfficialSource(
        entry.official.handle, url, sha256=sha, size_bytes=len(behaviour.body)))
    settings = load_settings()
    [(_, result)] = pull_official(settings, [entry])
    assert result is not None and result.sha256 == sha
    assert official_path(settings, entry).read_bytes() == behaviour.body
    [(_, again)] = pull_official(settings, [entry])
    assert again is None and behaviour.ranges == [None]  # present: not downloaded twice
    with session_scope(settings) as db:
        chosen = [(m.name, m.provenance, m.sha256) for m in select_all(db).models]
    assert chosen == [("deeplabv3-official", "official", sha)]
