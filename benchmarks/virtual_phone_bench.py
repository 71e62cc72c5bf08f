"""Virtual phone throughput and latency through the real adb server.

    python benchmarks/virtual_phone_bench.py [--size-mib 64] [--repeats 3] [--shells 200]

Starts a private adb server (free port, throwaway HOME) and one virtual phone, then measures:
push and pull throughput in MiB/s (adbutils' sync, the farm's path, and the adb command line),
and shell round-trip latency (adbutils ``shell2(v2=True)`` of ``true``: median and p95).
Prints the figures and writes them to ``benchmarks/results/virtual_phone.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import adbutils

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.device import adb as device_adb  # noqa: E402
from workers.virtual_phone.phone import start_phone  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "virtual_phone.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(size_mib: int, repeats: int, shells: int) -> dict[str, Any]:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="vphone-bench-") as tmp:
        env = {**os.environ, "HOME": tmp, "ANDROID_ADB_SERVER_PORT": str(port)}
        subprocess.run(["adb", "-P", str(port), "start-server"], env=env, check=True,
                       capture_output=True)
        phone = start_phone("pixel-7", runtime_dir=Path(tmp) / "phones")
        try:
            device_adb.connect(phone.serial, port=port)
            device = adbutils.AdbClient(host="127.0.0.1", port=port).device(phone.serial)
            blob = Path(tmp) / "blob.bin"
            blob.write_bytes(os.urandom(size_mib * 1024 * 1024))
            back = Path(tmp) / "back.bin"
            remote = "/data/local/tmp/blob.bin"
            cli = ["adb", "-P", str(port), "-s", phone.serial]

            def rate(seconds: list[float]) -> float:
                return round(size_mib / statistics.median(seconds), 1)

            sync_push = [_timed(lambda: device.sync.push(blob, remote)) for _ in range(repeats)]
            sync_pull = [_timed(lambda: device.sync.pull(remote, back)) for _ in range(repeats)]
            assert back.read_bytes() == blob.read_bytes(), "pull is not byte-exact"
            cli_push = [_timed(lambda: subprocess.run([*cli, "push", str(blob), remote], env=env,
                                                      check=True, capture_output=True))
                        for _ in range(repeats)]
            cli_pull = [_timed(lambda: subprocess.run([*cli, "pull", remote, str(back)], env=env,
                                                      check=True, capture_output=True))
                        for _ in range(repeats)]
            device.shell2("true", v2=True)  # warm the connection
            v2 = [_timed(lambda: device.shell2("true", v2=True)) * 1000 for _ in range(shells)]
            v1 = [_timed(lambda: device.shell("true")) * 1000 for _ in range(shells)]
        finally:
            phone.stop()
            subprocess.run(["adb", "-P", str(port), "kill-server"], env=env, capture_output=True,
                           check=False)
    return {
        "version": 1,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"platform": platform.platform(), "cpus": len(os.sched_getaffinity(0)),
                 "python": platform.python_version(),
                 "adb": subprocess.run(["adb", "version"], capture_output=True, text=True
                                       ).stdout.splitlines()[0]},
        "file_mib": size_mib,
        "repeats": repeats,
        "throughput_mib_s": {"adbutils_push": rate(sync_push), "adbutils_pull": rate(sync_pull),
                             "adb_cli_push": rate(cli_push), "adb_cli_pull": rate(cli_pull)},
        "shell_round_trip_ms": {
            "runs": shells,
            "shell2_v2_median": round(statistics.median(v2), 2),
            "shell2_v2_p95": round(_percentile(v2, 0.95), 2),
            "shell_v1_median": round(statistics.median(v1), 2),
            "shell_v1_p95": round(_percentile(v1, 0.95), 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shells", type=int, default=200)
    args = parser.parse_args()
    figures = run(args.size_mib, args.repeats, args.shells)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
