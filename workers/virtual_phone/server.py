"""A virtual phone: one process playing adbd over TCP on 127.0.0.1, in its own filesystem view.

    python -m workers.virtual_phone.server --profile pixel-7 --root DIR --control SOCK [--port P]
        [--serial S] [--faults SPEC]

``--root`` is an empty host directory the phone mounts its root on (only inside its private mount
namespace). When ready it prints one JSON line ``{"port": P, "serial": S, "pid": N}`` on stdout.
SIGTERM or SIGINT stops it, killing every command it started.

Run-time control: one text line per connection on the Unix socket ``--control``, answered by one
JSON line: ``set SPEC`` (faults, see ``faults.py``), ``clear NAMES|all``, ``status``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from orchestrator.errors import FarmError
from workers.virtual_phone import emulated, rootfs
from workers.virtual_phone.faults import Faults, parse_fault_names
from workers.virtual_phone.profile import Profile, load_profile
from workers.virtual_phone.shell import parse_shell_service, run_shell
from workers.virtual_phone.sync import run_sync
from workers.virtual_phone.thermal import DescendantCpu, ThermalState
from workers.virtual_phone.transport import Connection, Stream

__all__ = ["FEATURES", "PhoneServer", "main"]

log = logging.getLogger("vphone")

#: only what this server implements: the adb server uses whatever a device advertises
FEATURES = ["shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir"]
TICK_S = 0.5
#: what the storage-full fault fills /data with
RESERVED = "/data/misc/vphone_reserved"

SHELL_ENV = {
    "PATH": "/system/bin:/usr/bin:/bin",
    "ANDROID_DATA": "/data",
    "ANDROID_ROOT": "/system",
    "EXTERNAL_STORAGE": "/sdcard",
    "TMPDIR": "/data/local/tmp",
    "HOME": "/",
    "LANG": "C.UTF-8",
}


class PhoneServer:
    def __init__(self, profile: Profile, faults: Faults) -> None:
        self.profile = profile
        self.faults = faults
        self.features = FEATURES
        self.thermal = ThermalState(profile.thermal)
        self.connections: set[Connection] = set()
        self._env = {**SHELL_ENV, "HOSTNAME": str(profile.device["device"])}
        self._stop = asyncio.Event()

    # --- what connections ask of the phone ---

    def banner(self) -> bytes:
        return self.profile.banner(self.features)

    def service(self, name: str) -> Callable[[Stream], Awaitable[None]] | None:
        if name.startswith("exec:") or (name.startswith("shell") and name[5:6] in (",", ":")):
            request = parse_shell_service(name if name.startswith("exec:") else name[5:])

            async def shell(stream: Stream) -> None:
                drop = stream.conn.drop if self.faults.take("drop_shell") else None
                await run_shell(stream, request, self._env, drop=drop)

            return shell
        if name.startswith("sync:"):
            return lambda stream: run_sync(stream, drop_push=lambda: self.faults.take("drop_push"))
        if name.startswith("root:"):
            return _reply(b"adbd is already running as root\n")
        if name.startswith("unroot:"):
            return _reply(b"adbd cannot run as non-root in this build\n")
        return None

    # --- life cycle ---

    async def serve(self, tcp: socket.socket, control: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        adb = await asyncio.start_server(self._accept, sock=tcp)
        ctl = await asyncio.start_unix_server(self._control, sock=control)
        if self.faults.storage_full:
            self._apply_storage_full()
        ticker = asyncio.ensure_future(self._tick())
        self._log("vphone", f"booted as {self.profile.model} ({self.profile.serial})")
        ready = {"port": tcp.getsockname()[1], "serial": self.profile.serial, "pid": os.getpid()}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        await self._stop.wait()
        ticker.cancel()
        adb.close()
        ctl.close()
        tasks = [t for c in self.connections for t in c.tasks]
        for conn in list(self.connections):
            conn.drop()
        # cancelling the services kills their process groups (run_shell's finally)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(self, reader, writer)
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)

    async def _tick(self) -> None:
        cpu = DescendantCpu()
        last = time.monotonic()
        status = self.thermal.status()
        parent = os.getppid()
        while True:
            await asyncio.sleep(TICK_S)
            if os.getppid() != parent:
                # whoever started the phone is gone (even by SIGKILL): a phone never outlives it
                self._stop.set()
                return
            now = time.monotonic()
            dt, last = now - last, now
            busy = cpu.busy_since_last()
            self.thermal.step(dt, busy, overheat=self.faults.overheat)
            rootfs.write_files(
                emulated.dynamic_files(self.profile, self.thermal, busy_fraction=busy / dt)
            )
            if self.thermal.status() != status:
                status = self.thermal.status()
                self._log("ThermalManager", f"thermal status changed to {status}", level="W")

    def _log(self, tag: str, message: str, *, level: str = "I") -> None:
        with open(emulated.LOG_FILE, "a") as f:
            f.write(emulated.log_line(tag, message, level=level, pid=os.getpid()))

    # --- run-time control ---

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode().strip()
            try:
                reply: dict[str, Any] = {"ok": True, **self.command(line)}
            except FarmError as exc:
                reply = {"ok": False, "error": str(exc)}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()

    def command(self, line: str) -> dict[str, Any]:
        verb, _, arg = line.partition(" ")
        if verb == "set":
            before = dataclasses.replace(self.faults)
            self.faults.apply(arg)
            self._log("vphone", f"faults set: {arg}", level="W")
            if (self.faults.offline and not before.offline) or (
                self.faults.unauthorized and not before.unauthorized
            ):
                for conn in list(self.connections):
                    conn.drop()
            if self.faults.storage_full and not before.storage_full:
                self._apply_storage_full()
        elif verb == "clear":
            before = dataclasses.replace(self.faults)
            self.faults.clear(parse_fault_names(arg))
            self._log("vphone", f"faults cleared: {arg}")
            if (before.offline and not self.faults.offline) or (
                before.unauthorized and not self.faults.unauthorized
            ):
                for conn in list(self.connections):
                    conn.come_online()
            if before.storage_full and not self.faults.storage_full:
                self._clear_storage_full()
        elif verb != "status":
            raise FarmError(f"unknown control command {verb!r}", hint="use set, clear or status")
        return self.status()

    def status(self) -> dict[str, Any]:
        st = os.statvfs("/data")
        return {
            "faults": self.faults.as_dict(),
            "temperatures": {k: round(v, 2) for k, v in self.thermal.temps.items()},
            "thermal_status": self.thermal.status(),
            "data_free_bytes": st.f_bavail * st.f_frsize,
            "connections": len(self.connections),
        }

    def _apply_storage_full(self) -> None:
        st = os.statvfs("/data")
        rootfs.resize_data((st.f_blocks - st.f_bfree) * st.f_frsize, data_mb=self.profile.data_mb)
        # tmpfs keeps at least a page free; a reserved file takes what is left
        with contextlib.suppress(OSError), open(RESERVED, "wb") as f:
            f.write(bytes(os.statvfs("/data").f_bavail * st.f_frsize))

    def _clear_storage_full(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(RESERVED)
        rootfs.resize_data(None, data_mb=self.profile.data_mb)


def _reply(text: bytes) -> Callable[[Stream], Awaitable[None]]:
    async def reply(stream: Stream) -> None:
        await stream.write(text)

    return reply


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workers.virtual_phone.server")
    parser.add_argument("--profile", default="pixel-7")
    parser.add_argument("--serial")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--faults", default="")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level, format="vphone %(levelname)s %(message)s")
    try:
        profile = load_profile(args.profile)
        if args.serial:
            profile = profile.with_serial(args.serial)
        faults = Faults.parse(args.faults)
        tcp = socket.create_server(("127.0.0.1", args.port))
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            args.control.unlink()
        control.bind(str(args.control))
        control.listen()
        server = PhoneServer(profile, faults)
        files = {
            **emulated.static_files(profile),
            **emulated.dynamic_files(profile, server.thermal, busy_fraction=0.0),
        }
        scripts = emulated.tool_scripts(profile, sorted(os.sched_getaffinity(0)))
        rootfs.enter_phone_root(args.root, data_mb=profile.data_mb, files=files, scripts=scripts)
    except (FarmError, OSError) as exc:
        print(f"virtual phone failed to start: {exc}", file=sys.stderr)
        return 1
    asyncio.run(server.serve(tcp, control))
    return 0


if __name__ == "__main__":
    sys.exit(main())
