"""The ``sync:`` service (SYNC.TXT): STAT/STA2/LST2, LIST/LIS2, SEND, RECV, QUIT.

Paths are the phone's own: the server runs chrooted into the phone's root. SEND creates missing
parent directories (the ``fixed_push_mkdir`` behaviour) and, on a write error, answers FAIL and
keeps reading until DONE, as adbd does, so the host reads the error instead of a broken pipe.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import deque
from collections.abc import Callable

from workers.virtual_phone import protocol as p
from workers.virtual_phone.transport import Stream, StreamClosed

__all__ = ["run_sync"]


class _Requests:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.parser = p.SyncRequestParser()
        self.pending: deque[p.SyncRequest] = deque()

    async def next(self) -> p.SyncRequest:
        while not self.pending:
            data = await self.stream.read()
            if data is None:
                raise StreamClosed
            self.pending.extend(self.parser.feed(data))
        return self.pending.popleft()


async def run_sync(stream: Stream, *, drop_push: Callable[[], bool]) -> None:
    """``drop_push()`` says (once per armed fault) whether to cut the connection mid-push."""
    requests = _Requests(stream)
    while True:
        req = await requests.next()
        path = req.data.decode("utf-8", errors="surrogateescape")
        if req.id == b"STAT":
            await stream.write(_stat_v1(path))
        elif req.id in (b"STA2", b"LST2"):
            await stream.write(_stat_v2(req.id, path))
        elif req.id in (b"LIST", b"LIS2"):
            await stream.write(_list(path, v2=req.id == b"LIS2"))
        elif req.id == b"SEND":
            await _send(stream, requests, path, drop_push())
        elif req.id == b"RECV":
            await _recv(stream, path)
        elif req.id == b"QUIT":
            return
        else:
            await stream.write(p.sync_fail(f"unexpected sync request {req.id!r}"))
            return


def _stat_v1(path: str) -> bytes:
    try:
        st = os.lstat(path)
    except OSError:
        return p.sync_stat_v1(0, 0, 0)
    return p.sync_stat_v1(st.st_mode, st.st_size, int(st.st_mtime))


def _stat_v2(ident: bytes, path: str) -> bytes:
    try:
        st = os.stat(path) if ident == b"STA2" else os.lstat(path)
    except OSError as exc:
        return p.sync_stat_v2(ident, exc.errno or 0, None)
    return p.sync_stat_v2(ident, 0, st)


def _list(path: str, *, v2: bool) -> bytes:
    out = bytearray()
    try:
        names = [".", "..", *os.listdir(path)]
    except OSError:
        names = []
    for name in names:
        try:
            st = os.lstat(os.path.join(path, name))
        except OSError:
            continue
        raw = name.encode("utf-8", errors="surrogateescape")
        if v2:
            out += p.sync_dent_v2(st, raw)
        else:
            out += p.sync_dent_v1(st.st_mode, st.st_size, int(st.st_mtime), raw)
    out += p.sync_done_v2_list() if v2 else p.sync_done_v1_list()
    return bytes(out)


async def _send(stream: Stream, requests: _Requests, spec: str, drop: bool) -> None:
    path, _, mode_text = spec.rpartition(",")
    try:
        mode = int(mode_text)
    except ValueError:
        path, mode = spec, stat.S_IFREG | 0o644
    if stat.S_ISLNK(mode):
        await _send_symlink(stream, requests, path)
        return
    try:
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode & 0o777)
    except OSError as exc:
        await _fail_and_drain(stream, requests, f"couldn't create file: {exc.strerror}")
        return
    try:
        os.fchmod(fd, mode & 0o7777)
        while True:
            req = await requests.next()
            if req.id == b"DATA":
                _write_all(fd, req.data)
                if drop:
                    stream.conn.drop()
                    raise StreamClosed
            elif req.id == b"DONE":
                os.utime(fd, (req.arg, req.arg))
                break
            else:
                await stream.write(p.sync_fail(f"unexpected {req.id!r} during SEND"))
                raise StreamClosed
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        await _fail_and_drain(stream, requests, f"write failed: {exc.strerror}")
        return
    os.close(fd)
    await stream.write(p.sync_packet(b"OKAY"))


async def _send_symlink(stream: Stream, requests: _Requests, path: str) -> None:
    target = bytearray()
    while (req := await requests.next()).id == b"DATA":
        target += req.data
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.symlink(target.rstrip(b"\0").decode(errors="surrogateescape"), path)
    except OSError as exc:
        await stream.write(p.sync_fail(f"symlink failed: {exc.strerror}"))
        return
    await stream.write(p.sync_packet(b"OKAY"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


async def _fail_and_drain(stream: Stream, requests: _Requests, message: str) -> None:
    await stream.write(p.sync_fail(message))
    # The host may still be sending; read and discard until its DONE, like adbd.
    while (await requests.next()).id == b"DATA":
        pass
    raise StreamClosed


async def _recv(stream: Stream, path: str) -> None:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, across awaits
    except OSError as exc:
        await stream.write(p.sync_fail(f"open failed: {exc.strerror}"))
        return
    with f:
        # several DATA chunks per WRTE keep the message count (and the per-message cost) low
        batch = bytearray()
        while chunk := f.read(p.SYNC_DATA_MAX):
            batch += p.sync_packet(b"DATA", chunk)
            if len(batch) >= stream.conn.max_send:
                await stream.write(bytes(batch))
                batch.clear()
        batch += p.sync_packet(b"DONE", arg=0)
        await stream.write(bytes(batch))
