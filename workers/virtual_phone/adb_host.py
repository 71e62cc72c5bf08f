"""The adb server, from the host: find or start it, connect TCP devices, list what it sees.

The server is the one ``ANDROID_ADB_SERVER_PORT`` names (default 5037), as for adb and adbutils.
adbutils and socket errors become ``DeviceError``/``ToolError`` here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

import adbutils

from orchestrator.errors import DeviceError, DeviceUnavailable, ToolError

__all__ = ["DeviceRow", "adb_server_port", "connect", "disconnect", "ensure_server", "list_devices"]


@dataclass(frozen=True)
class DeviceRow:
    serial: str
    state: str  # device, offline, unauthorized, ...
    model: str | None


def adb_server_port() -> int:
    raw = os.environ.get("ANDROID_ADB_SERVER_PORT", "5037")
    try:
        return int(raw)
    except ValueError:
        raise ToolError(
            f"ANDROID_ADB_SERVER_PORT={raw!r} is not a port number", hint="unset it or give a number"
        ) from None


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def adb_binary() -> str:
    found = shutil.which("adb")
    if found is None:
        raise ToolError("the adb command is not installed", hint="apt-get install adb")
    return found


def ensure_server(port: int | None = None) -> int:
    """Start the adb server on ``port`` unless one listens there already; returns the port."""
    port = port or adb_server_port()
    if _listening(port):
        return port
    result = subprocess.run(
        [adb_binary(), "-P", str(port), "start-server"], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0 or not _listening(port):
        raise ToolError(
            f"could not start the adb server on port {port}: {result.stderr.strip()}",
            hint="check `adb -P PORT start-server` by hand",
        )
    return port


def _client(port: int | None) -> adbutils.AdbClient:
    return adbutils.AdbClient(host="127.0.0.1", port=port or adb_server_port())


def connect(address: str, *, port: int | None = None, timeout: float = 15.0) -> str:
    """``adb connect ADDRESS``; returns the server's reply once it lists the device, in any state.

    Like a real phone, a device that never answers the handshake ("failed to connect", after the
    server's own 10 s) or refuses the key ("failed to authenticate") stays listed, as offline or
    unauthorized; only a device the server does not list at all is an error.
    """
    try:
        reply = _client(port).connect(address, timeout=timeout)
    except (adbutils.AdbError, OSError) as exc:
        raise DeviceUnavailable(f"adb connect {address} failed: {exc}") from exc
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        # the bare listing: looking up models would run commands on the phone
        if any(info.serial == address for info in _client(port).list()):
            return reply
        time.sleep(0.05)
    raise DeviceUnavailable(f"adb connect {address}: {reply}", hint="is the phone running?")


def disconnect(address: str, *, port: int | None = None) -> None:
    try:
        _client(port).disconnect(address)
    except (adbutils.AdbError, OSError) as exc:
        raise DeviceError(f"adb disconnect {address} failed: {exc}") from exc


def list_devices(*, port: int | None = None) -> list[DeviceRow]:
    """Every device the adb server sees, with the model from its banner when it is online."""
    port = port or adb_server_port()
    # adbutils would start a server on the default port instead of failing
    if not _listening(port):
        raise DeviceError(
            f"no adb server listens on port {port}", hint=f"start it with `adb -P {port} start-server`"
        )
    client = _client(port)
    try:
        infos = client.list(extended=True)
    except (adbutils.AdbError, OSError) as exc:
        raise DeviceError(
            f"cannot reach the adb server: {exc}", hint="start it with `adb start-server`"
        ) from exc
    return [
        DeviceRow(serial=info.serial, state=info.state, model=_model(client, info))
        for info in infos
    ]


def _model(client: adbutils.AdbClient, info: adbutils.AdbDeviceInfo) -> str | None:
    # the banner's model has every non-alphanumeric turned into "_"; an online phone says better
    if info.state == "device":
        try:
            model = client.device(info.serial).shell2(
                "getprop ro.product.model", timeout=10, v2=True
            ).stdout.strip()
        except (adbutils.AdbError, OSError, EOFError):
            model = ""
        if model:
            return model
    return info.tags.get("model") or None
