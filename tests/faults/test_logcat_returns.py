"""The virtual phone's logcat followed the log where a real one returns (issue 28, item 8).

A real ``logcat`` follows the log only when asked to print it live (no option, or ``-T``):
``-G SIZE`` sets the ring buffers' size, ``-g`` prints them, ``-c`` clears, ``-d`` and ``-t``
print what is there, and each returns at once. The emulated one followed the log on ``-G`` and
``-t``, so a client setting the buffer hung until its own timeout. Probed through the real adb
server against a virtual phone; no database is involved.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.support.adb import AdbServer
from tests.support.virtual_phones import ConnectedPhone

# The virtual phones of the worker tests (re-exported fixtures).
from tests.workers.conftest import phone, phone_factory, vphone_runtime  # noqa: F401

#: a real logcat answers these in milliseconds; a second or two allows for a loaded machine
PROMPT_S = 3.0
SIZES = re.compile(r"^(\w+): ring buffer is (\d+) (|Ki|Mi)B \((\d+) (|Ki|Mi)B consumed\), "
                   r"max entry is 5120 B, max payload is 4068 B$")


def _logcat(adb: AdbServer, on: ConnectedPhone, *args: str
            ) -> tuple[subprocess.CompletedProcess[bytes] | None, float]:
    """``adb shell logcat ARGS``, and how long it took; None if it did not return in 10 s."""
    started = time.monotonic()
    try:
        result = adb.adb("-s", on.serial, "shell", "logcat", *args, timeout=10)
    except subprocess.TimeoutExpired:
        result = None
    took = time.monotonic() - started
    print(f"logcat {' '.join(args)}: {'hung' if result is None else result.returncode} "
          f"after {took:.2f} s")
    return result, took


def _sizes(adb: AdbServer, on: ConnectedPhone, *args: str) -> dict[str, str]:
    result, took = _logcat(adb, on, "-g", *args)
    assert result is not None and result.returncode == 0 and took < PROMPT_S, result
    lines = result.stdout.decode().splitlines()
    matches = [SIZES.match(line) for line in lines]
    assert all(matches), lines
    return {m.group(1): f"{m.group(2)} {m.group(3)}B" for m in matches if m}


@pytest.mark.parametrize(("size", "shown"), [("1M", "1 MiB"), ("256K", "256 KiB"),
                                             ("16M", "16 MiB"), ("524288", "512 KiB")])
def test_logcat_set_buffer_size_returns_at_once(
        adb: AdbServer, phone: ConnectedPhone, size: str, shown: str) -> None:  # noqa: F811
    result, took = _logcat(adb, phone, "-G", size)
    assert result is not None, "logcat -G followed the log instead of returning"
    assert result.returncode == 0 and took < PROMPT_S, (result, took)
    assert result.stdout == b""
    # the default buffers (main, system, crash) all took the size
    assert _sizes(adb, phone) == {"main": shown, "system": shown, "crash": shown}


def test_logcat_sizes_per_buffer(adb: AdbServer, phone: ConnectedPhone) -> None:  # noqa: F811
    assert _sizes(adb, phone) == {"main": "256 KiB", "system": "256 KiB", "crash": "256 KiB"}
    result, _took = _logcat(adb, phone, "-b", "radio", "-G", "2M")
    assert result is not None and result.returncode == 0
    assert _sizes(adb, phone, "-b", "main,radio") == {"main": "256 KiB", "radio": "2 MiB"}
    assert set(_sizes(adb, phone, "-b", "all")) == {
        "main", "radio", "events", "system", "crash", "stats", "security", "kernel"}


@pytest.mark.parametrize(("args", "message"), [
    (("-G", "12Q"), "Invalid -G size: '12Q'"),
    (("-G", "K"), "Invalid -G size: 'K'"),
    (("-G",), "option requires an argument -- G"),
    (("-G", "1K"), "Failed to set the log size of 'main,system,crash'."),
    (("-b", "main", "-G", "1G"), "Failed to set the log size of 'main'."),
    (("-b", "nope", "-g"), "Unknown buffer 'nope'"),
])
def test_logcat_bad_size_is_an_error(adb: AdbServer, phone: ConnectedPhone,  # noqa: F811
                                     args: tuple[str, ...], message: str) -> None:
    result, took = _logcat(adb, phone, *args)
    assert result is not None and took < PROMPT_S
    assert result.returncode != 0 and message in result.stderr.decode(), result
    # nothing was changed
    assert _sizes(adb, phone)["main"] == "256 KiB"


def test_logcat_dump_tail_and_clear_return(adb: AdbServer, phone: ConnectedPhone  # noqa: F811
                                           ) -> None:
    dump, _took = _logcat(adb, phone, "-d")
    assert dump is not None and dump.returncode == 0
    lines = dump.stdout.decode().splitlines()
    assert lines and "booted as" in lines[0]
    last, took = _logcat(adb, phone, "-t", "1")
    assert last is not None and took < PROMPT_S, "logcat -t followed the log"
    assert last.returncode == 0 and last.stdout.decode().splitlines() == lines[-1:]
    since, took = _logcat(adb, phone, "-v", "threadtime", "-t", lines[0][:18])
    assert since is not None and took < PROMPT_S
    assert since.stdout.decode().splitlines() == lines
    cleared, took = _logcat(adb, phone, "-b", "all", "-c")
    assert cleared is not None and cleared.returncode == 0 and took < PROMPT_S
    after, _took = _logcat(adb, phone, "-d")
    assert after is not None and after.stdout == b""
