"""Phones through the adb server: the only module that touches adbutils or adb's sockets.

Every adbutils / socket error is translated here into a ``DeviceError`` subclass (``raise ... from``):

    AdbTimeout                         -> DeviceLost (the command outlived its timeout: a hung phone
                                          or a link that died silently; either way the result is gone)
    EOFError, ConnectionError, "closed"-> DeviceLost
    "offline" / "unauthorized"         -> DeviceUnavailable
    "not found"                        -> DeviceNotFound
    "No space left on device" on push  -> DeviceStorageFull

Commands always go through the v2 shell: with the v1 shell adbutils returns an empty string when the
connection drops mid-command, while v2 raises, so a lost phone cannot pass for a silent success.
The v2 shell is spoken here (``_shell_v2``: ``host:transport:SERIAL``, then ``shell,v2:`` and its
packets), not through adbutils, whose every command costs a second connection (``host:version``)
and a 10 ms sleep in each close: about 25 ms per command, three commands a session
(``benchmarks/overhead.py``).
Argument lists are quoted with ``shlex.join`` for the phone's POSIX shell (adbutils' own list
handling uses Windows quoting rules, which a device shell does not follow).

The adb server is the one ``ANDROID_ADB_SERVER_PORT`` names (default 5037), as adb itself does.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import adbutils

from orchestrator.errors import (
    DeviceError,
    DeviceLost,
    DeviceNotFound,
    DeviceStorageFull,
    DeviceUnavailable,
)
from workers.device.protocol import Device, ShellResult

__all__ = [
    "AdbClient",
    "AdbLink",
    "AdbPhone",
    "adb_client",
    "adb_server_port",
    "connect",
    "disconnect",
    "ensure_server",
    "find_transport",
    "list_transports",
]

#: the client type, for annotations elsewhere (only this module imports adbutils)
AdbClient: TypeAlias = adbutils.AdbClient


_FOREIGN = (adbutils.AdbError, OSError, EOFError)


def adb_server_port() -> int:
    raw = os.environ.get("ANDROID_ADB_SERVER_PORT", "5037")
    try:
        return int(raw)
    except ValueError:
        raise DeviceError(f"ANDROID_ADB_SERVER_PORT is {raw!r}, not a port number",
                          hint="set it to the adb server's port, e.g. 5037") from None


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ensure_server(port: int | None = None) -> int:
    """Start the adb server on ``port`` (default: ``adb_server_port()``) unless one listens there,
    the way ``adb`` itself does; return the port."""
    port = port or adb_server_port()
    if _listening(port):
        return port
    adb = shutil.which("adb")
    if adb is None:
        raise DeviceError("the adb server is not running and `adb` is not installed",
                          hint="install Debian's adb package (scripts/bootstrap.sh does)")
    result = subprocess.run([adb, "-P", str(port), "start-server"], capture_output=True, text=True,
                            timeout=30, check=False)
    if result.returncode != 0 or not _listening(port):
        raise DeviceError(f"could not start the adb server on port {port}: "
                          f"{result.stderr.strip()}", hint=f"try `adb -P {port} start-server`")
    return port


def adb_client(port: int | None = None, start: bool = True) -> AdbClient:
    """A client of the adb server (started first unless ``start`` is False)."""
    port = ensure_server(port) if start else (port or adb_server_port())
    return adbutils.AdbClient(host="127.0.0.1", port=port, socket_timeout=30)


def connect(address: str, *, port: int | None = None, timeout: float = 15.0) -> str:
    """``adb connect ADDRESS``; returns the server's reply once it lists the device, in any state.

    Like a real phone, a device that never answers the handshake or refuses the key stays listed,
    as offline or unauthorized; only a device the server does not list at all is an error.
    """
    client = adb_client(port)
    try:
        reply = client.connect(address, timeout=timeout)
    except _FOREIGN as exc:
        raise DeviceUnavailable(f"adb connect {address} failed: {exc}",
                                hint="is the phone (or virtual phone) running?") from exc
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if any(serial == address for serial, _ in list_transports(client)):
            return reply
        time.sleep(0.05)
    raise DeviceUnavailable(f"adb connect {address}: {reply}", hint="is the phone running?")


def disconnect(address: str, *, port: int | None = None) -> None:
    try:
        adb_client(port, start=False).disconnect(address)
    except _FOREIGN as exc:
        raise DeviceError(f"adb disconnect {address} failed: {exc}") from exc


def list_transports(client: AdbClient) -> list[tuple[str, str]]:
    """(transport serial, state) of everything the server sees: device, offline, unauthorized."""
    try:
        return [(info.serial, info.state) for info in client.list()]
    except _FOREIGN as exc:
        raise DeviceError(f"cannot list devices from the adb server: {exc}",
                          hint="check `adb devices` and ANDROID_ADB_SERVER_PORT") from exc


def _translate(serial: str, exc: BaseException, action: str) -> DeviceError:
    text = str(exc)
    lowered = text.lower()
    if "no space left" in lowered or "enospc" in lowered:
        return DeviceStorageFull(f"{serial}: storage is full ({action})",
                                 hint="free space on the phone (/data/local/tmp) and retry")
    if "unauthorized" in lowered:
        return DeviceUnavailable(f"{serial} is unauthorized",
                                 hint="unlock the phone and accept the USB debugging prompt")
    if "offline" in lowered:
        return DeviceUnavailable(f"{serial} is offline",
                                 hint="reconnect the cable or `adb reconnect`")
    if "not found" in lowered:
        return DeviceNotFound(f"no device {serial}", hint="see `farm devices list`")
    detail = text or type(exc).__name__
    return DeviceLost(f"{serial}: connection lost during {action} ({detail})",
                      hint="check the cable / network link; the job is retried when it returns")


class AdbPhone:
    """One phone behind the adb server, addressed by its transport serial (a ``Device``)."""

    def __init__(self, client: AdbClient, transport: str) -> None:
        self.client = client
        self.transport = transport
        self._device = client.device(transport)

    def shell(self, argv: Sequence[str], timeout: float = 60.0) -> ShellResult:
        """Run one command (an argument list, quoted here) and return its output and status."""
        return self.run_script(shlex.join(argv), timeout)

    def run_script(self, script: str, timeout: float = 60.0) -> ShellResult:
        """Run a shell script the farm wrote. Any user data in it must be ``shlex.quote``-d."""
        try:
            return _shell_v2(self.client, self.transport, script, timeout)
        except _FOREIGN as exc:
            raise _translate(self.transport, exc, "a shell command") from exc

    def push(self, local: Path, remote: str, mode: int = 0o644) -> None:
        try:
            self._device.sync.push(str(local), remote, mode=mode, check=True)
        except _FOREIGN as exc:
            raise _translate(self.transport, exc, f"the push of {local.name}") from exc

    def pull(self, remote: str, local: Path) -> None:
        try:
            self._device.sync.pull(remote, str(local))
        except _FOREIGN as exc:
            raise _translate(self.transport, exc, f"the pull of {remote}") from exc

    def getprops(self) -> str:
        """``getprop``'s full listing (parse with ``probes.parse_getprop``)."""
        return self.run_script("getprop", timeout=30).stdout


#: shell protocol v2 packet ids (adb's shell_protocol.h)
_STDOUT, _STDERR, _EXIT = 1, 2, 3


def _request(sock: socket.socket, request: str) -> None:
    """One adb server request (4 hex digits of length, then the text) and its OKAY."""
    payload = request.encode()
    sock.sendall(b"%04x" % len(payload) + payload)
    status = _read_exact(sock, 4)
    if status == b"FAIL":
        length = int(_read_exact(sock, 4), 16)
        raise adbutils.AdbError(_read_exact(sock, length).decode(errors="replace"))
    if status != b"OKAY":
        raise adbutils.AdbError(f"unexpected reply {status!r} to {request.split(':', 1)[0]}")


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except TimeoutError as exc:
            raise adbutils.AdbTimeout("adb recv timeout") from exc
        if not chunk:
            raise EOFError("the adb connection closed")
        data += chunk
    return bytes(data)


def _shell_v2(client: AdbClient, transport: str, script: str, timeout: float) -> ShellResult:
    """``script`` in the phone's shell over the v2 protocol: its stdout, stderr and exit status
    (outputs without trailing whitespace, as adbutils' ``shell2`` returns them)."""
    out, err = bytearray(), bytearray()
    with socket.create_connection((client.host, client.port), timeout=timeout) as sock:
        _request(sock, f"host:transport:{transport}")
        _request(sock, f"shell,v2:{script}")
        while True:
            header = _read_exact(sock, 5)
            data = _read_exact(sock, int.from_bytes(header[1:5], "little"))
            if header[0] == _STDOUT:
                out += data
            elif header[0] == _STDERR:
                err += data
            elif header[0] == _EXIT:
                code = data[0] if data else 255
                break
    return ShellResult(out.decode(errors="replace").rstrip(),
                       err.decode(errors="replace").rstrip(), code)


def find_transport(client: AdbClient, serial: str) -> str | None:
    """The transport under which the phone with ``ro.serialno == serial`` is online, if any."""
    for transport, state in list_transports(client):
        if state != "device":
            continue
        try:
            found = AdbPhone(client, transport).shell(["getprop", "ro.serialno"], timeout=30)
        except DeviceError:
            continue  # gone again between the listing and the question
        if found.stdout.strip() == serial:
            return transport
    return None


class AdbLink:
    """A phone behind the adb server by its ``ro.serialno`` (a ``DeviceLink``)."""

    def __init__(self, client: AdbClient, serial: str) -> None:
        self.client = client
        self.serial = serial

    def find(self) -> Device | None:
        try:
            transport = find_transport(self.client, self.serial)
        except DeviceError:  # the server itself may be restarting
            return None
        return AdbPhone(self.client, transport) if transport is not None else None
