"""The adb wire formats a device speaks, as pure functions and incremental parsers (no sockets).

Three framings, each parsed as a byte stream (data may arrive split at any point):

* transport messages (AOSP ``protocol.txt``): a 24-byte little-endian header
  ``command, arg0, arg1, data_length, data_crc32, magic`` followed by ``data_length`` bytes;
  ``magic == command ^ 0xffffffff``; the "crc" is the byte sum of the payload, which peers at
  version >= ``VERSION_SKIP_CHECKSUM`` neither send nor check;
* sync requests (``SYNC.TXT``): ``id(4) length(u32)`` followed by ``length`` bytes, where the
  ``DATA`` payload is file content and ``DONE``'s length field is the file mtime (no payload);
* shell protocol v2 packets (``shell_protocol.h``): ``id(1) length(u32)`` followed by the data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "A_AUTH",
    "A_CLSE",
    "A_CNXN",
    "A_OKAY",
    "A_OPEN",
    "A_STLS",
    "A_SYNC",
    "A_WRTE",
    "AUTH_RSAPUBLICKEY",
    "AUTH_SIGNATURE",
    "AUTH_TOKEN",
    "SHELL_CLOSE_STDIN",
    "SHELL_EXIT",
    "SHELL_STDERR",
    "SHELL_STDIN",
    "SHELL_STDOUT",
    "SHELL_WINDOW_SIZE",
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "SYNC_DATA_MAX",
    "SYNC_PATH_MAX",
    "VERSION",
    "VERSION_SKIP_CHECKSUM",
    "Message",
    "MessageParser",
    "ProtocolError",
    "ShellPacket",
    "ShellPacketParser",
    "SyncRequest",
    "SyncRequestParser",
    "checksum",
    "command_name",
    "encode_message",
    "shell_packet",
    "sync_dent_v1",
    "sync_dent_v2",
    "sync_done_v1_list",
    "sync_done_v2_list",
    "sync_fail",
    "sync_packet",
    "sync_stat_v1",
    "sync_stat_v2",
]


def _cmd(name: bytes) -> int:
    return int.from_bytes(name, "little")


A_SYNC = _cmd(b"SYNC")
A_CNXN = _cmd(b"CNXN")
A_OPEN = _cmd(b"OPEN")
A_OKAY = _cmd(b"OKAY")
A_CLSE = _cmd(b"CLSE")
A_WRTE = _cmd(b"WRTE")
A_AUTH = _cmd(b"AUTH")
A_STLS = _cmd(b"STLS")

AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3

VERSION_MIN = 0x01000000
VERSION_SKIP_CHECKSUM = 0x01000001
VERSION = VERSION_SKIP_CHECKSUM
#: what we accept per message; the host sends at most this, we send at most what it declared
MAX_PAYLOAD = 1024 * 1024
HEADER_SIZE = 24
#: largest DATA chunk in a sync transfer
SYNC_DATA_MAX = 64 * 1024

_HEADER = struct.Struct("<6I")
_KNOWN = {A_SYNC, A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH, A_STLS}


class ProtocolError(Exception):
    """The peer sent bytes that are not the adb protocol; the connection must be dropped."""


def checksum(data: bytes) -> int:
    return sum(data) & 0xFFFFFFFF


def command_name(command: int) -> str:
    return command.to_bytes(4, "little").decode("ascii", errors="replace")


@dataclass(frozen=True, slots=True)
class Message:
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    def __repr__(self) -> str:  # payloads can be a MiB: keep logs readable
        return (
            f"Message({command_name(self.command)}, {self.arg0:#x}, {self.arg1:#x}, "
            f"{self.data[:32]!r}{'...' if len(self.data) > 32 else ''})"
        )


def encode_message(message: Message, *, with_checksum: bool = False) -> bytes:
    data = message.data
    header = _HEADER.pack(
        message.command,
        message.arg0,
        message.arg1,
        len(data),
        checksum(data) if with_checksum else 0,
        message.command ^ 0xFFFFFFFF,
    )
    return header + data


class MessageParser:
    """Turns a byte stream into transport messages.

    ``check_checksum`` is switched on only for peers older than ``VERSION_SKIP_CHECKSUM``.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.check_checksum = False
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        while len(self._buf) >= HEADER_SIZE:
            command, arg0, arg1, length, crc, magic = _HEADER.unpack_from(self._buf)
            if command not in _KNOWN or magic != command ^ 0xFFFFFFFF:
                raise ProtocolError(f"bad message header {bytes(self._buf[:HEADER_SIZE])!r}")
            if length > self.max_payload:
                raise ProtocolError(f"payload of {length} bytes exceeds {self.max_payload}")
            if len(self._buf) < HEADER_SIZE + length:
                break
            payload = bytes(self._buf[HEADER_SIZE : HEADER_SIZE + length])
            del self._buf[: HEADER_SIZE + length]
            if self.check_checksum and checksum(payload) != crc:
                raise ProtocolError(f"checksum mismatch in {command_name(command)}")
            out.append(Message(command, arg0, arg1, payload))
        return out


# --- sync service -------------------------------------------------------------------------------

#: requests whose length field is a byte count followed by that many bytes
_SYNC_WITH_PAYLOAD = {
    b"STAT", b"STA2", b"LST2", b"LIST", b"LIS2", b"SEND", b"RECV", b"DATA", b"QUIT"
}
#: a path longer than this is refused, as adbd does
SYNC_PATH_MAX = 1024


@dataclass(frozen=True, slots=True)
class SyncRequest:
    id: bytes  # b"STAT", b"SEND", b"DATA", b"DONE", ...
    #: the length field; for DONE it carries the file's mtime
    arg: int
    data: bytes = b""


class SyncRequestParser:
    """Turns the bytes of a ``sync:`` stream into requests (``DATA`` keeps its content)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[SyncRequest]:
        self._buf += data
        out: list[SyncRequest] = []
        while len(self._buf) >= 8:
            ident = bytes(self._buf[:4])
            (arg,) = struct.unpack_from("<I", self._buf, 4)
            if ident == b"DONE":
                del self._buf[:8]
                out.append(SyncRequest(ident, arg))
                continue
            if ident not in _SYNC_WITH_PAYLOAD:
                raise ProtocolError(f"unknown sync request {ident!r}")
            limit = SYNC_DATA_MAX if ident == b"DATA" else SYNC_PATH_MAX
            if arg > limit:
                raise ProtocolError(f"sync {ident.decode()} of {arg} bytes exceeds {limit}")
            if len(self._buf) < 8 + arg:
                break
            payload = bytes(self._buf[8 : 8 + arg])
            del self._buf[: 8 + arg]
            out.append(SyncRequest(ident, arg, payload))
        return out


def sync_packet(ident: bytes, data: bytes = b"", *, arg: int | None = None) -> bytes:
    return ident + struct.pack("<I", len(data) if arg is None else arg) + data


def sync_fail(message: str) -> bytes:
    return sync_packet(b"FAIL", message.encode())


def sync_stat_v1(mode: int, size: int, mtime: int) -> bytes:
    return b"STAT" + struct.pack("<III", mode, size & 0xFFFFFFFF, mtime & 0xFFFFFFFF)


_STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")


def sync_stat_v2(ident: bytes, error: int, st: _StatLike | None) -> bytes:
    """``STA2``/``LST2`` reply (or, with ``ident=b"DNT2"``, the fixed part of a v2 entry)."""
    if st is None:
        return _STAT_V2.pack(ident, error, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return _STAT_V2.pack(
        ident,
        error,
        st.st_dev,
        st.st_ino,
        st.st_mode,
        st.st_nlink,
        st.st_uid,
        st.st_gid,
        st.st_size,
        int(st.st_atime),
        int(st.st_mtime),
        int(st.st_ctime),
    )


def sync_dent_v1(mode: int, size: int, mtime: int, name: bytes) -> bytes:
    fields = struct.pack("<IIII", mode, size & 0xFFFFFFFF, mtime & 0xFFFFFFFF, len(name))
    return b"DENT" + fields + name


def sync_dent_v2(st: _StatLike, name: bytes) -> bytes:
    return sync_stat_v2(b"DNT2", 0, st) + struct.pack("<I", len(name)) + name


def sync_done_v1_list() -> bytes:
    return b"DONE" + bytes(16)


def sync_done_v2_list() -> bytes:
    # a zeroed v2 entry: the stat fields after the id, plus the name length
    return b"DONE" + bytes(_STAT_V2.size)


class _StatLike(Protocol):  # the os.stat_result fields the sync replies use
    @property
    def st_dev(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_mode(self) -> int: ...
    @property
    def st_nlink(self) -> int: ...
    @property
    def st_uid(self) -> int: ...
    @property
    def st_gid(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_atime(self) -> float: ...
    @property
    def st_mtime(self) -> float: ...
    @property
    def st_ctime(self) -> float: ...


# --- shell protocol v2 --------------------------------------------------------------------------

SHELL_STDIN = 0
SHELL_STDOUT = 1
SHELL_STDERR = 2
SHELL_EXIT = 3
SHELL_CLOSE_STDIN = 4
SHELL_WINDOW_SIZE = 5


@dataclass(frozen=True, slots=True)
class ShellPacket:
    id: int
    data: bytes


def shell_packet(ident: int, data: bytes) -> bytes:
    return struct.pack("<BI", ident, len(data)) + data


class ShellPacketParser:
    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[ShellPacket]:
        self._buf += data
        out: list[ShellPacket] = []
        while len(self._buf) >= 5:
            ident, length = struct.unpack_from("<BI", self._buf)
            if len(self._buf) < 5 + length:
                break
            payload = bytes(self._buf[5 : 5 + length])
            del self._buf[: 5 + length]
            out.append(ShellPacket(ident, payload))
        return out
