"""The pure adb framing: messages, sync requests and shell packets, fed split at any point."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.virtual_phone import protocol as p


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[last:point])
        last = point
    return pieces


_messages = st.lists(
    st.builds(
        p.Message,
        st.sampled_from([p.A_CNXN, p.A_OPEN, p.A_OKAY, p.A_WRTE, p.A_CLSE, p.A_AUTH]),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.binary(max_size=300),
    ),
    max_size=6,
)


@given(messages=_messages, cuts=st.lists(st.integers(0, 10_000), max_size=12),
       with_checksum=st.booleans())
def test_messages_survive_any_split(messages: list[p.Message], cuts: list[int],
                                    with_checksum: bool) -> None:
    wire = b"".join(p.encode_message(m, with_checksum=with_checksum) for m in messages)
    parser = p.MessageParser()
    parser.check_checksum = with_checksum
    got = [m for piece in _split(wire, cuts) for m in parser.feed(piece)]
    assert got == messages


def test_header_layout_matches_protocol_txt() -> None:
    wire = p.encode_message(p.Message(p.A_WRTE, 7, 9, b"\x01\x02\xff"), with_checksum=True)
    command, arg0, arg1, length, crc, magic = struct.unpack("<6I", wire[:24])
    assert wire[:4] == b"WRTE"
    assert (arg0, arg1, length, crc) == (7, 9, 3, 0x102)
    assert magic == command ^ 0xFFFFFFFF
    assert wire[24:] == b"\x01\x02\xff"


def test_garbage_and_oversize_are_protocol_errors() -> None:
    with pytest.raises(p.ProtocolError, match="bad message header"):
        p.MessageParser().feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    bad_magic = bytearray(p.encode_message(p.Message(p.A_OKAY, 1, 2)))
    bad_magic[20] ^= 1
    with pytest.raises(p.ProtocolError):
        p.MessageParser().feed(bytes(bad_magic))
    huge = struct.pack("<6I", p.A_WRTE, 1, 2, p.MAX_PAYLOAD + 1, 0, p.A_WRTE ^ 0xFFFFFFFF)
    with pytest.raises(p.ProtocolError, match="exceeds"):
        p.MessageParser().feed(huge)


def test_checksum_is_checked_only_for_old_peers() -> None:
    wire = bytearray(p.encode_message(p.Message(p.A_WRTE, 1, 2, b"abc"), with_checksum=True))
    wire[16] ^= 0xFF
    assert len(p.MessageParser().feed(bytes(wire))) == 1
    old = p.MessageParser()
    old.check_checksum = True
    with pytest.raises(p.ProtocolError, match="checksum"):
        old.feed(bytes(wire))


def test_a_partial_message_waits_for_the_rest() -> None:
    wire = p.encode_message(p.Message(p.A_OPEN, 5, 0, b"shell:ls\0"))
    parser = p.MessageParser()
    assert parser.feed(wire[:23]) == []
    assert parser.feed(wire[23:-1]) == []
    assert parser.feed(wire[-1:]) == [p.Message(p.A_OPEN, 5, 0, b"shell:ls\0")]


@given(chunks=st.lists(st.binary(min_size=1, max_size=2000), max_size=5),
       cuts=st.lists(st.integers(0, 100_000), max_size=20), mtime=st.integers(0, 2**32 - 1))
def test_sync_send_survives_any_split(chunks: list[bytes], cuts: list[int], mtime: int) -> None:
    wire = p.sync_packet(b"SEND", b"/data/local/tmp/x,33188")
    wire += b"".join(p.sync_packet(b"DATA", c) for c in chunks)
    wire += p.sync_packet(b"DONE", arg=mtime) + p.sync_packet(b"QUIT")
    parser = p.SyncRequestParser()
    got = [r for piece in _split(wire, cuts) for r in parser.feed(piece)]
    assert [r.id for r in got] == [b"SEND", *[b"DATA"] * len(chunks), b"DONE", b"QUIT"]
    assert got[0].data == b"/data/local/tmp/x,33188"
    assert b"".join(r.data for r in got[1:-2]) == b"".join(chunks)
    assert got[-2].arg == mtime and got[-2].data == b""


def test_sync_limits() -> None:
    with pytest.raises(p.ProtocolError, match="unknown sync request"):
        p.SyncRequestParser().feed(b"HACK\0\0\0\0")
    with pytest.raises(p.ProtocolError, match="exceeds"):
        p.SyncRequestParser().feed(b"DATA" + struct.pack("<I", p.SYNC_DATA_MAX + 1))
    with pytest.raises(p.ProtocolError, match="exceeds"):
        p.SyncRequestParser().feed(b"STAT" + struct.pack("<I", p.SYNC_PATH_MAX + 1))


def test_sync_reply_sizes_match_sync_txt() -> None:
    st_ = os.stat("/")
    assert len(p.sync_stat_v1(0o40755, 4096, 1)) == 16
    assert len(p.sync_stat_v2(b"STA2", 0, st_)) == 72
    assert len(p.sync_stat_v2(b"STA2", 2, None)) == 72
    assert p.sync_stat_v2(b"STA2", 2, None)[4:8] == struct.pack("<I", 2)
    assert len(p.sync_dent_v1(0o100644, 3, 1, b"name")) == 20 + 4
    assert len(p.sync_dent_v2(st_, b"name")) == 76 + 4
    assert len(p.sync_done_v1_list()) == 20
    assert len(p.sync_done_v2_list()) == 76
    assert p.sync_fail("no") == b"FAIL\x02\0\0\0no"


@given(packets=st.lists(st.tuples(st.integers(0, 5), st.binary(max_size=500)), max_size=6),
       cuts=st.lists(st.integers(0, 5000), max_size=10))
def test_shell_packets_survive_any_split(packets: list[tuple[int, bytes]], cuts: list[int]) -> None:
    wire = b"".join(p.shell_packet(i, d) for i, d in packets)
    parser = p.ShellPacketParser()
    got = [(pk.id, pk.data) for piece in _split(wire, cuts) for pk in parser.feed(piece)]
    assert got == packets
