"""Zoo build benchmark: converter environment install time, each replica's build time and its size
against the reference project's file (the 15% size rule).

    python benchmarks/zoo_build.py                 # every catalog entry, the heavy ones included
    python benchmarks/zoo_build.py --skip-heavy    # the entries CI builds
    python benchmarks/zoo_build.py NAME... --fresh-env   # also time a cold converter install

Builds into ``benchmarks/.work/home`` (forced, so times are real), prints a table and writes
``benchmarks/results/zoo_build.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from models.catalog import load_catalog  # noqa: E402
from models.converter import venv  # noqa: E402
from models.replicas import SIZE_TOLERANCE, build_replicas  # noqa: E402
from orchestrator.config import load_settings  # noqa: E402


def _time_fresh_env() -> float:
    with tempfile.TemporaryDirectory(prefix="converter-env-") as folder:
        started = time.perf_counter()
        venv.ensure_env(Path(folder))
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["all"])
    parser.add_argument("--skip-heavy", action="store_true")
    parser.add_argument("--fresh-env", action="store_true",
                        help="time a converter install into an empty cache first")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "zoo_build.json")
    args = parser.parse_args(argv)

    fresh_env_s = _time_fresh_env() if args.fresh_env else None
    started = time.perf_counter()
    venv.ensure_env()
    cached_env_s = time.perf_counter() - started

    os.environ["FARM_HOME"] = str(ROOT / ".work" / "home")
    settings = load_settings()
    entries = load_catalog().select(args.names, include_heavy=not args.skip_heavy)
    walls: dict[str, float] = {}
    marks = {"t": time.perf_counter()}

    def progress(name: str, phase: str) -> None:
        if phase == "building":
            marks["t"] = time.perf_counter()
        elif phase == "done":
            walls[name] = time.perf_counter() - marks["t"]

    results = build_replicas(settings, entries, force=True, progress=progress)
    rows = []
    print(f"{'replica':45} {'size B':>12} {'reference B':>12} {'dev':>8} {'params':>11} "
          f"{'build s':>8}")
    for r in results:
        e = r.entry
        rows.append({
            "name": e.name, "quantization": e.quantization, "heavy": e.heavy,
            "size_bytes": r.size_bytes, "reference_size_bytes": e.reference_size_bytes,
            "reference_size_exact": e.reference_size_exact,
            "deviation": None if r.deviation is None else round(r.deviation, 4),
            "within_tolerance": r.within_tolerance, "params": r.params,
            "converter_seconds": r.seconds, "wall_seconds": round(walls.get(e.name, 0.0), 2),
        })
        dev = "-" if r.deviation is None else f"{r.deviation:+.1%}"
        ref = f"{e.reference_size_bytes:,}" if e.reference_size_bytes else "-"
        print(f"{e.name:45} {r.size_bytes:>12,} {ref:>12} {dev:>8} {r.params or 0:>11,} "
              f"{walls.get(e.name, 0.0):>8.1f}")
    report = {
        "version": 1,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "size_tolerance": SIZE_TOLERANCE,
        "converter_env": {"key": venv.env_key(), "fresh_install_seconds": fresh_env_s,
                          "cached_check_seconds": round(cached_env_s, 3)},
        "total_build_seconds": round(sum(walls.values()), 1),
        "replicas": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    off = [row["name"] for row in rows if row["within_tolerance"] is False]
    print(f"total build {report['total_build_seconds']} s; outside {SIZE_TOLERANCE:.0%}: "
          f"{', '.join(off) or 'none'}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
