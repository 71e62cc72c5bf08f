"""One adb transport (a TCP connection from the adb server) and its streams, on asyncio.

The connection reads messages, answers the handshake, and multiplexes streams: each ``OPEN`` gets
a local id, an ``OKAY`` and a service task; ``WRTE`` payloads are acknowledged with ``OKAY`` and
queued for the service; a service writes one ``WRTE`` at a time, waiting for the peer's ``OKAY``
before the next (one outstanding write per stream, as protocol.txt requires).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Protocol

from workers.virtual_phone import protocol as p
from workers.virtual_phone.faults import Faults

__all__ = ["Connection", "Stream", "StreamClosed"]

log = logging.getLogger(__name__)


class StreamClosed(Exception):
    """The peer closed the stream, or the connection under it went away."""


class Host(Protocol):
    """What a connection needs from the phone that owns it."""

    faults: Faults
    features: list[str]

    def banner(self) -> bytes: ...

    def service(self, name: str) -> Callable[[Stream], Awaitable[None]] | None: ...


class Stream:
    def __init__(self, conn: Connection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.closed = False
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._may_write = asyncio.Event()
        self._may_write.set()

    async def read(self) -> bytes | None:
        """Next payload from the peer; None once the stream is closed."""
        if self.closed and self._inbox.empty():
            return None
        return await self._inbox.get()

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        step = self.conn.max_send
        for start in range(0, len(view), step):
            await self._may_write.wait()
            if self.closed:
                raise StreamClosed
            self._may_write.clear()
            await self.conn.send(p.Message(p.A_WRTE, self.local_id, self.remote_id,
                                           bytes(view[start : start + step])))

    async def close(self) -> None:
        if not self.closed:
            self._closed_here()
            await self.conn.send(p.Message(p.A_CLSE, self.local_id, self.remote_id))

    def _closed_here(self) -> None:
        self.closed = True
        self.conn.streams.pop(self.local_id, None)
        self._inbox.put_nowait(None)
        self._may_write.set()

    def _received(self, data: bytes) -> None:
        self._inbox.put_nowait(data)


class Connection:
    def __init__(self, host: Host, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.host = host
        self.reader = reader
        self.writer = writer
        self.parser = p.MessageParser()
        self.max_send = 4096  # until the peer's CNXN says more
        self.with_checksum = True
        self.online = False
        self.streams: dict[int, Stream] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._next_id = 1
        self._pending_cnxn: p.Message | None = None
        self._dropped = False

    async def run(self) -> None:
        try:
            while True:
                data = await self.reader.read(1 << 20)
                if not data:
                    break
                for message in self.parser.feed(data):
                    await self._dispatch(message)
        except (ConnectionError, p.ProtocolError, OSError) as exc:
            log.info("connection ends: %r", exc)
        finally:
            self.drop()

    def drop(self) -> None:
        """Cut the connection now, as a pulled cable would."""
        if self._dropped:
            return
        self._dropped = True
        self.online = False
        for stream in list(self.streams.values()):
            stream._closed_here()
        self.writer.transport.abort()

    async def send(self, message: p.Message, *, acknowledged: int = 0) -> None:
        """Send one message; ``acknowledged`` is the size of the WRTE an OKAY answers, which a
        slow link must have spent its time receiving."""
        if self._dropped:
            raise StreamClosed
        await self._throttle(len(message.data) + acknowledged)
        self.writer.write(p.encode_message(message, with_checksum=self.with_checksum))
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self.drop()
            raise StreamClosed from exc

    async def _throttle(self, size: int) -> None:
        f = self.host.faults
        delay = f.latency_ms / 1000.0
        if f.slow_kib_s:
            delay += (size + p.HEADER_SIZE) / (f.slow_kib_s * 1024.0)
        if delay:
            await asyncio.sleep(delay)

    def come_online(self) -> None:
        """Answer a CNXN held back while the phone was offline or unauthorized."""
        if self._pending_cnxn is not None and not self._dropped:
            message, self._pending_cnxn = self._pending_cnxn, None
            self._spawn(self._dispatch(message))

    async def _dispatch(self, m: p.Message) -> None:
        if m.command == p.A_CNXN:
            await self._on_connect(m)
        elif m.command == p.A_AUTH:
            if m.arg0 == p.AUTH_SIGNATURE:
                # every key is wrong: ask again, until the host offers its public key (and waits)
                await self.send(p.Message(p.A_AUTH, p.AUTH_TOKEN, 0, os.urandom(20)))
        elif not self.online:
            return
        elif m.command == p.A_OPEN:
            await self._on_open(m)
        elif m.command == p.A_WRTE:
            stream = self.streams.get(m.arg1)
            if stream is None:
                return
            # acknowledging paces the host: on a slow link it waits as long as the bytes took
            await self.send(p.Message(p.A_OKAY, stream.local_id, stream.remote_id),
                            acknowledged=len(m.data))
            stream._received(m.data)
        elif m.command == p.A_OKAY:
            stream = self.streams.get(m.arg1)
            if stream is not None:
                stream.remote_id = m.arg0
                stream._may_write.set()
        elif m.command == p.A_CLSE:
            stream = self.streams.get(m.arg1)
            if stream is not None:
                stream._closed_here()

    async def _on_connect(self, m: p.Message) -> None:
        f = self.host.faults
        if f.offline:
            self._pending_cnxn = m
            return
        version, max_data = m.arg0, m.arg1
        if f.unauthorized:
            # kept, so that clearing the fault acts like the user accepting the key
            self._pending_cnxn = m
            await self.send(p.Message(p.A_AUTH, p.AUTH_TOKEN, 0, os.urandom(20)))
            return
        for stream in list(self.streams.values()):
            stream._closed_here()
        self.with_checksum = version < p.VERSION_SKIP_CHECKSUM
        self.parser.check_checksum = self.with_checksum
        self.max_send = max(256, min(max_data, p.MAX_PAYLOAD))
        self.online = True
        await self.send(
            p.Message(p.A_CNXN, min(version, p.VERSION), p.MAX_PAYLOAD, self.host.banner())
        )

    async def _on_open(self, m: p.Message) -> None:
        name = m.data.rstrip(b"\0").decode("utf-8", errors="replace")
        handler = self.host.service(name)
        if handler is None:
            log.info("refusing service %r", name)
            await self.send(p.Message(p.A_CLSE, 0, m.arg0))
            return
        local_id = self._next_id
        self._next_id += 1
        stream = Stream(self, local_id, m.arg0)
        self.streams[local_id] = stream
        await self.send(p.Message(p.A_OKAY, local_id, m.arg0))
        self._spawn(self._serve(stream, handler))

    async def _serve(self, stream: Stream, handler: Callable[[Stream], Awaitable[None]]) -> None:
        try:
            await handler(stream)
        except StreamClosed:
            pass
        except Exception:
            log.exception("service failed")
        with contextlib.suppress(StreamClosed):
            await stream.close()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
