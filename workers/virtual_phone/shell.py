"""The ``shell:`` and ``exec:`` services: a real POSIX shell inside the phone's filesystem view.

Service strings (SERVICES.TXT, adbd's ``ShellService``): ``shell[,ARG...]:COMMAND`` where ARG is
``v2`` (the shell protocol: separate stdout/stderr and an exit packet), ``raw`` or ``pty``, or
``TERM=...``. Without ``raw``/``pty`` a command runs on pipes and an empty command gets a pty.
Without ``v2``, stderr joins stdout and the exit status is lost (the stream just closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import termios
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from workers.virtual_phone import protocol as p
from workers.virtual_phone.transport import Stream, StreamClosed

__all__ = ["ShellRequest", "parse_shell_service", "run_shell"]

SHELL = "/system/bin/sh"
_READ = 64 * 1024


@dataclass(frozen=True)
class ShellRequest:
    command: str
    v2: bool
    pty: bool
    term: str


def parse_shell_service(name: str) -> ShellRequest:
    """``name`` is the service string after ``shell`` (``,v2,raw:ls``) or ``exec:...``."""
    if name.startswith("exec:"):
        return ShellRequest(name[5:], v2=False, pty=False, term="dumb")
    args, _, command = name.partition(":")
    use_pty = not command
    v2 = False
    term = "dumb"
    for arg in args.split(","):
        if arg == "raw":
            use_pty = False
        elif arg == "pty":
            use_pty = True
        elif arg == "v2":
            v2 = True
        elif arg.startswith("TERM="):
            term = arg[5:]
    return ShellRequest(command, v2=v2, pty=use_pty, term=term)


async def run_shell(
    stream: Stream,
    request: ShellRequest,
    env: dict[str, str],
    *,
    drop: Callable[[], None] | None = None,
) -> None:
    """Run one command; ``drop``, if given, cuts the connection before the command can finish."""
    argv = [SHELL, "-c", request.command] if request.command else [SHELL, "-i" if request.pty else "-s"]
    env = {**env, "TERM": request.term}
    if request.pty:
        proc, out_fds = await _spawn_pty(argv, env)
    else:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if request.v2 else asyncio.subprocess.STDOUT,
            cwd="/",
            env=env,
            start_new_session=True,
        )
        out_fds = None
    session = _Session(stream, proc, request, out_fds)
    try:
        await session.run(drop)
    finally:
        session.kill()


class _Session:
    def __init__(
        self,
        stream: Stream,
        proc: asyncio.subprocess.Process,
        request: ShellRequest,
        master_fd: int | None,
    ) -> None:
        self.stream = stream
        self.proc = proc
        self.request = request
        self.master_fd = master_fd

    async def run(self, drop: Callable[[], None] | None) -> None:
        timer = asyncio.get_running_loop().call_later(0.3, drop) if drop else None
        outputs: list[Awaitable[None]] = []
        if self.master_fd is not None:
            outputs.append(self._pump_pty())
        else:
            assert self.proc.stdout is not None
            outputs.append(self._pump(self.proc.stdout, p.SHELL_STDOUT))
            if self.proc.stderr is not None:
                outputs.append(self._pump(self.proc.stderr, p.SHELL_STDERR))
        pumps = [asyncio.ensure_future(c) for c in (self._pump_input(), *outputs)]
        try:
            await asyncio.gather(*pumps[1:])
            code = await self.proc.wait()
        finally:
            if timer is not None:
                timer.cancel()
            for task in pumps:
                task.cancel()
        if drop is not None:
            drop()  # a command cut short never reports its exit status
            raise StreamClosed
        if self.request.v2:
            status = code if code >= 0 else 128 - code
            await self.stream.write(p.shell_packet(p.SHELL_EXIT, bytes([status & 0xFF])))

    async def _pump(self, pipe: asyncio.StreamReader, ident: int) -> None:
        while True:
            data = await pipe.read(_READ)
            if not data:
                return
            await self.stream.write(p.shell_packet(ident, data) if self.request.v2 else data)

    async def _pump_pty(self) -> None:
        assert self.master_fd is not None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(self.master_fd, _READ)  # type: ignore[arg-type]
            except OSError:  # EIO: the last slave fd closed
                data = b""
            queue.put_nowait(data)
            if not data:
                loop.remove_reader(self.master_fd)  # type: ignore[arg-type]

        loop.add_reader(self.master_fd, readable)
        try:
            while data := await queue.get():
                await self.stream.write(
                    p.shell_packet(p.SHELL_STDOUT, data) if self.request.v2 else data
                )
        finally:
            loop.remove_reader(self.master_fd)

    async def _pump_input(self) -> None:
        parser = p.ShellPacketParser() if self.request.v2 else None
        while True:
            data = await self.stream.read()
            if data is None:
                self.kill()
                return
            if parser is None:
                self._stdin(data)
                continue
            for packet in parser.feed(data):
                if packet.id == p.SHELL_STDIN:
                    self._stdin(packet.data)
                elif packet.id == p.SHELL_CLOSE_STDIN:
                    self._close_stdin()
                elif packet.id == p.SHELL_WINDOW_SIZE and self.master_fd is not None:
                    self._resize(packet.data)

    def _stdin(self, data: bytes) -> None:
        if self.master_fd is not None:
            os.write(self.master_fd, data)
        elif self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.write(data)

    def _close_stdin(self) -> None:
        if self.master_fd is not None:
            os.write(self.master_fd, b"\x04")
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    def _resize(self, data: bytes) -> None:
        # "ROWSxCOLS,XPIXELSxYPIXELS"
        with contextlib.suppress(ValueError, OSError):
            chars, _, pixels = data.rstrip(b"\0").decode().partition(",")
            rows, cols = (int(v) for v in chars.split("x"))
            xp, yp = (int(v) for v in pixels.split("x")) if pixels else (0, 0)
            fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, xp, yp))  # type: ignore[arg-type]

    def kill(self) -> None:
        """Stop the whole process group, as adbd does when a shell stream closes."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.master_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.master_fd)
            self.master_fd = None


async def _spawn_pty(argv: list[str], env: dict[str, str]) -> tuple[asyncio.subprocess.Process, int]:
    master, slave = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd="/",
            env=env,
            start_new_session=True,
            preexec_fn=_take_controlling_tty,
        )
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return proc, master


def _take_controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
