"""Replica build throughput: ``build_replicas`` wall time with one converter process per replica
(how builds ran before protocol 2), with one long-lived converter (``--jobs 1``) and with one per
CPU (the default), and the share of a one-off build that is the converter's start (TensorFlow's
import).

    python benchmarks/replica_builds.py                  # the light entries, as `build all --skip-heavy`
    python benchmarks/replica_builds.py NAME... --jobs 1 2 4 --heavy

Every mode builds the same entries (forced, so times are real) into its own home under
``benchmarks/.work/replica-builds``, one mode after another in this process; prints a table and
writes ``benchmarks/results/replica_builds.json``. The figures are only comparable within one run:
note the load average it records. It also lists the replicas whose bytes differ between modes: the
DeepLab ones do even between two runs of one mode (their quantized files are not byte-for-byte
reproducible), the Magenta ones must not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from models.catalog import CatalogEntry, load_catalog  # noqa: E402
from models.converter import BUILD_SCRIPT, venv  # noqa: E402
from models.replicas import BuildResult, build_replicas  # noqa: E402
from models.tflite_file import sha256_file  # noqa: E402
from orchestrator import storage  # noqa: E402
from orchestrator.config import load_settings  # noqa: E402

WORK = ROOT / ".work" / "replica-builds"


def converter_start_seconds(python: Path, samples: int) -> list[float]:
    """A converter that gets no request: start, import TensorFlow, see stdin closed, exit."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([str(python), "-E", "-s", str(BUILD_SCRIPT)], stdin=subprocess.DEVNULL,
                       capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def _one_process_each(entries: list[CatalogEntry]) -> Callable[[], list[BuildResult]]:
    # one build_replicas call per entry: one converter process, one TensorFlow import each
    return lambda: [r for e in entries for r in build_replicas(load_settings(), [e], force=True,
                                                                jobs=1)]


def _jobs(entries: list[CatalogEntry], jobs: int) -> Callable[[], list[BuildResult]]:
    return lambda: build_replicas(load_settings(), entries, force=True, jobs=jobs)


def run_mode(name: str, build: Callable[[], list[BuildResult]]
             ) -> tuple[dict[str, Any], dict[str, str]]:
    """The mode's figures, and each replica's sha256 (every mode must build the same bytes)."""
    home = WORK / name
    shutil.rmtree(home, ignore_errors=True)
    os.environ["FARM_HOME"] = str(home)
    started = time.perf_counter()
    results = build()
    wall = time.perf_counter() - started
    storage.dispose_engines()
    return ({"mode": name, "wall_seconds": round(wall, 1),
             "converter_seconds": round(sum(r.seconds or 0.0 for r in results), 1)},
            {r.entry.name: sha256_file(r.path) for r in results})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["all"])
    parser.add_argument(
        "--heavy", action="store_true", help="include the heavy entries (Xception65, InceptionV3 transfer)"
    )
    parser.add_argument("--jobs", type=int, nargs="+", default=sorted({1, os.cpu_count() or 1}))
    parser.add_argument("--start-samples", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "replica_builds.json")
    args = parser.parse_args(argv)

    for key in [k for k in os.environ if k.startswith("FARM_") and k != "FARM_CONVERTER_CACHE"]:
        del os.environ[key]
    entries = load_catalog().select(args.names, include_heavy=args.heavy)
    load_before = os.getloadavg()[0]
    start = converter_start_seconds(venv.ensure_env(), args.start_samples)
    runs = [run_mode("process-per-replica", _one_process_each(entries))]
    runs += [run_mode(f"jobs-{jobs}", _jobs(entries, jobs)) for jobs in args.jobs]

    modes = [mode for mode, _ in runs]
    baseline = modes[0]["wall_seconds"]
    for mode in modes:
        mode["speedup"] = round(baseline / mode["wall_seconds"], 2)
    start_s = statistics.median(start)
    per_build = baseline / len(entries)
    report = {
        "version": 1,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_before": round(load_before, 2),
                    "load_average_after": round(os.getloadavg()[0], 2)},
        "replicas": [e.name for e in entries],
        "converter_start_seconds": {"samples": [round(t, 2) for t in start],
                                    "median": round(start_s, 2)},
        "start_share_of_a_one_off_build": round(start_s / per_build, 3),
        "modes": modes,
        # the DeepLab replicas' quantized bytes vary from build to build even in one mode
        "differing_files": sorted({name for _, hashes in runs for name in hashes
                                   if hashes[name] != runs[0][1][name]}),
    }
    print(f"{len(entries)} replicas; converter start (TensorFlow import) {start_s:.1f} s = "
          f"{report['start_share_of_a_one_off_build']:.0%} of a one-off build "
          f"({per_build:.1f} s wall each)")
    print(f"{'mode':22} {'wall s':>8} {'converter s':>12} {'speed-up':>9}")
    for mode in modes:
        print(f"{mode['mode']:22} {mode['wall_seconds']:>8} {mode['converter_seconds']:>12} "
              f"{mode['speedup']:>8}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"files differing between modes: {', '.join(report['differing_files']) or 'none'}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
