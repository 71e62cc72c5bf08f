"""Start, control and stop virtual phone processes (the host side of ``server.py``).

Each phone gets a private work directory under the run-time directory (its root mount point, its
control socket, its log); ``<runtime dir>/<port>.sock`` links to the control socket so a phone can
be found again from its adb serial ``127.0.0.1:<port>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import DeviceError, DeviceNotFound
from workers.virtual_phone.faults import Faults
from workers.virtual_phone.profile import load_profile

__all__ = ["VirtualPhone", "control", "default_runtime_dir", "start_phone"]


def default_runtime_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"tflite-farm-vphones-{os.getuid()}"


@dataclass
class VirtualPhone:
    profile: str
    serial: str  # what the adb server calls it: 127.0.0.1:PORT
    device_serial: str  # ro.serialno
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    link: Path

    @property
    def control_path(self) -> Path:
        return self.workdir / "control.sock"

    def control(self, line: str) -> dict[str, Any]:
        return _send_control(self.control_path, line)

    def set_faults(self, spec: str) -> dict[str, Any]:
        return self.control(f"set {spec}")

    def clear_faults(self, names: str = "all") -> dict[str, Any]:
        return self.control(f"clear {names}")

    def status(self) -> dict[str, Any]:
        return self.control("status")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        with contextlib.suppress(FileNotFoundError):
            if self.link.is_symlink() and self.link.resolve() == self.control_path.resolve():
                self.link.unlink()
        # the root mount point is an empty directory once the phone's namespace is gone
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_phone(
    profile: str = "pixel-7",
    *,
    port: int = 0,
    faults: str = "",
    serial: str | None = None,
    runtime_dir: Path | None = None,
    ready_timeout: float = 30.0,
) -> VirtualPhone:
    """Start one phone process and wait until it listens; ``port=0`` picks a free port."""
    loaded = load_profile(profile)  # fail here, with a hint, rather than in the child
    Faults.parse(faults)
    runtime = runtime_dir or default_runtime_dir()
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    _prune_stale(runtime)
    workdir = Path(tempfile.mkdtemp(prefix="phone-", dir=runtime))
    (workdir / "root").mkdir()
    argv = [
        sys.executable, "-m", "workers.virtual_phone.server",
        "--profile", profile,
        "--port", str(port),
        "--root", str(workdir / "root"),
        "--control", str(workdir / "control.sock"),
        "--faults", faults,
    ]
    if serial:
        argv += ["--serial", serial]
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    ready = _wait_ready(process, ready_timeout)
    if ready is None:
        if process.poll() is None:
            process.kill()
        process.wait()
        detail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        shutil.rmtree(workdir, ignore_errors=True)
        raise DeviceError(
            f"virtual phone ({loaded.name}) did not start: {' | '.join(detail) or 'no output'}",
            hint="virtual phones need Linux, root and a free TCP port on 127.0.0.1",
        )
    phone_port = int(ready["port"])
    link = runtime / f"{phone_port}.sock"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(workdir / "control.sock")
    return VirtualPhone(
        profile=loaded.name,
        serial=f"127.0.0.1:{phone_port}",
        device_serial=str(ready["serial"]),
        port=phone_port,
        workdir=workdir,
        process=process,
        link=link,
    )


def control(serial: str, line: str, *, runtime_dir: Path | None = None) -> dict[str, Any]:
    """Send a control line to the running phone known to adb as ``serial`` (127.0.0.1:PORT)."""
    host, _, port = serial.rpartition(":")
    path = (runtime_dir or default_runtime_dir()) / f"{port}.sock"
    if host not in ("127.0.0.1", "localhost") or not path.exists():
        raise DeviceNotFound(
            f"{serial} is not a virtual phone running on this host",
            hint="virtual phones are named 127.0.0.1:PORT; see `farm devices list`",
        )
    return _send_control(path, line)


def _send_control(path: Path, line: str) -> dict[str, Any]:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(path))
            s.sendall(line.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        raise DeviceError(f"virtual phone control socket {path}: {exc}") from exc
    reply: dict[str, Any] = json.loads(data or b'{"ok": false, "error": "no reply"}')
    if not reply.pop("ok", False):
        raise DeviceError(f"virtual phone refused {line!r}: {reply.get('error')}")
    return reply


def _prune_stale(runtime: Path) -> None:
    """Remove what phones killed without a chance to clean up left behind."""
    for workdir in runtime.glob("phone-*"):
        sock = workdir / "control.sock"
        if time.time() - workdir.stat().st_mtime < 60:
            continue  # maybe still starting
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(sock))
        except OSError:
            shutil.rmtree(workdir, ignore_errors=True)
    for link in runtime.glob("*.sock"):
        if link.is_symlink() and not link.exists():
            link.unlink()


def _wait_ready(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any] | None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not sel.select(left):
                continue
            line = process.stdout.readline()
            if not line:
                return None
            with contextlib.suppress(ValueError):
                return dict(json.loads(line))
    return None
