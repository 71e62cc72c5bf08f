"""Dashboard build time, page sizes and serve latency on a large synthetic history (default
1,000,000 sessions).

    .venv/bin/python benchmarks/dashboard_scale.py [--sessions N] [--out FILE] [--reuse]
        [--requests 20] [--before-code DIR [--before-requests 5] [--before-label TEXT]]

Generates nightly runs (10 devices x 20 models x 6 configs, 3 sessions per job) into a fresh
SQLite database under benchmarks/.work/ with bulk inserts (``--reuse`` keeps the database of an
earlier run when it was generated for the same number of sessions), then times ``build_site``
(the whole static site) and the single-file report of the newest run, records the page sizes
(each must stay under 2 MB) and the largest number of plotted values on any page, and starts
``farm dashboard serve`` on a free loopback port to time one page of each type (fleet, runs,
models, trends, a run, a device, a model, a model's trend): a first request, then ``--requests``
more, of which the median and the maximum are kept.

The results file keeps the figures it held before under "before" (``--before-code DIR``, a
checkout of the older code, re-times that code's build and serve on the same database, under
before.remeasured) and this run's under "after".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session as DbSession

from dashboards.data import load_run_report
from dashboards.pages import device_path, model_path, run_path, trend_path
from dashboards.report import render_run_report
from dashboards.site import build_site
from orchestrator.config import load_settings
from orchestrator.schema import Device, Job, Model, Run, Session, Tool
from orchestrator.storage import dispose_engines, get_engine

HERE = Path(__file__).resolve().parent
DEVICES, MODELS, REPEATS = 10, 20, 3
CONFIGS = (("cpu", 1), ("cpu", 2), ("cpu", 4), ("xnnpack", 4), ("gpu", 4), ("nnapi", 4))
CHUNK = 50_000
MAX_PAGE_BYTES = 2_000_000  # the page budget (2 MB)


def _generate(db: DbSession, sessions: int, now: datetime) -> dict[str, int]:
    rng = random.Random(8)
    per_night = DEVICES * MODELS * len(CONFIGS) * REPEATS
    nights = math.ceil(sessions / per_night)
    db.add(Tool(id=1, name="benchmark_model", version="2.16.1", sha256="ab" * 32,
                abi="arm64-v8a"))
    for d in range(DEVICES):
        db.add(Device(id=d + 1, serial=f"phone-{d:02d}", kind="adb", state="device",
                      manufacturer="Google", model=f"Pixel {d}", soc="Tensor", abi="arm64-v8a",
                      os="Android 14 (SDK 34)", fingerprint=f"google/p{d}/14:user", cpu={},
                      info={}, last_seen=now))
    for m in range(MODELS):
        db.add(Model(id=m + 1, name=f"model-{m:02d}", sha256=f"{m:064x}", size_bytes=4_000_000,
                     path=f"/m/{m}.tflite", provenance="official", inputs=[], outputs=[],
                     model_metadata={}))
    db.flush()
    jobs, rows, made = [], [], 0
    start = now - timedelta(days=nights)
    for night in range(nights):
        run_id = f"n{night:05d}"
        created = start + timedelta(days=night)
        db.add(Run(id=run_id, status="done", trigger="nightly", created_at=created,
                   finished_at=created, spec={}))
        seq = 0
        for d in range(DEVICES):
            for m in range(MODELS):
                base = 5.0 + 3 * m + d + (2.0 if night > nights * 0.7 and m % 5 == 0 else 0.0)
                for delegate, threads in CONFIGS:
                    job_id = f"{run_id}-{seq}"
                    failed = delegate == "nnapi" and d % 4 == 0
                    scale = {"cpu": 1.0 / threads ** 0.6, "xnnpack": 0.3, "gpu": 0.2,
                             "nnapi": 0.25}[delegate]
                    values = [base * scale * rng.uniform(0.95, 1.08) for _ in range(REPEATS)]
                    jobs.append({"id": job_id, "run_id": run_id, "seq": seq, "device_id": d + 1,
                                 "model_id": m + 1, "tool_id": 1, "delegate": delegate,
                                 "num_threads": threads, "config": {},
                                 "status": "failed" if failed else "done", "attempts": 1,
                                 "error_kind": "delegate_failed" if failed else None,
                                 "error_message": "NNAPI: failed to prepare" if failed else None,
                                 "value_ms": None if failed else sorted(values)[1]})
                    for r, value in enumerate(values):
                        temp = 30 + rng.random() * 12
                        rows.append({
                            "job_id": job_id, "repeat_index": r,
                            "status": "failed" if failed else "ok",
                            "inference_avg_ms": None if failed else value,
                            "init_ms": value * 4, "first_inference_ms": value * 2,
                            "memory_peak_mb": 30 + m, "delegate_coverage":
                                "partial" if delegate == "gpu" and m % 3 == 0 else
                                ("full" if delegate != "cpu" and not failed else None),
                            "delegate_detail": {"unsupported_ops": ["RESIZE_BILINEAR"]}
                                if delegate == "gpu" and m % 3 == 0 else None,
                            "temp_before_c": temp, "temp_after_c": temp + rng.random() * 8,
                            "model_sha256": f"{m:064x}", "tool_name": "benchmark_model",
                            "tool_version": "2.16.1", "device_fingerprint": f"google/p{d}/14",
                            "command": [], "raw_output": "", "environment": {}, "ops": []})
                        made += 1
                    seq += 1
        if len(rows) >= CHUNK or night == nights - 1:
            db.execute(insert(Job), jobs)
            db.execute(insert(Session), rows)
            jobs, rows = [], []
    db.commit()
    return {"nights": nights, "runs": nights, "jobs": nights * per_night // REPEATS,
            "sessions": made}


def _max_points(folder: Path) -> tuple[int, str]:
    """The most x values any page plots (counted in the figures' JSON, per page)."""
    best, where = 0, ""
    for page in folder.rglob("*.html"):
        text = page.read_text()
        count = sum(len(m.group(1).split(",")) for m in re.finditer(r'"x":\[([^\]]*)\]', text))
        if count > best:
            best, where = count, str(page.relative_to(folder))
    return best, where


def _served_pages(newest_run: str) -> dict[str, str]:
    """One page of each type the site has, by the paths it gives them."""
    return {"index": "index.html", "runs": "runs.html", "models": "models.html",
            "trends": "trends.html", "run": run_path(newest_run), "device": device_path("phone-00"),
            "model": model_path("model-00"), "trend": trend_path("model-00")}


def _get(url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (loopback)
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
    return time.perf_counter() - t0, len(body)


def _measure_serve(home: Path, code: Path, pages: dict[str, str],
                   requests: int) -> dict[str, Any]:
    """``farm dashboard serve`` (the code checked out at ``code``) on a free loopback port: per
    page type one first request, then ``requests`` timed ones one after the other."""
    env = {**os.environ, "FARM_HOME": str(home), "PYTHONPATH": str(code)}
    env.pop("FARM_DATABASE_URL", None)
    env.pop("FARM_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "farm.cli", "dashboard", "serve", "--port", "0"],
                            cwd=home, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            raise RuntimeError(f"farm dashboard serve said {line!r}")
        base = f"http://127.0.0.1:{match.group(1)}/"
        out: dict[str, Any] = {}
        load_before = os.getloadavg()
        for kind, path in pages.items():
            first, size = _get(base + path)
            times = [_get(base + path)[0] for _ in range(requests)]
            out[kind] = {"path": path, "kb": round(size / 1e3, 1),
                         "first_ms": round(first * 1e3), "median_ms":
                             round(statistics.median(times) * 1e3),
                         "max_ms": round(max(times) * 1e3), "min_ms": round(min(times) * 1e3)}
        return {"requests_per_page": requests, "pages": out,
                "worst_median_ms": max(p["median_ms"] for p in out.values()),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


_OLD_BUILD = """
import json, sys
from datetime import datetime
from pathlib import Path
from sqlalchemy.orm import Session
from dashboards.site import build_site
from orchestrator.config import load_settings
from orchestrator.storage import get_engine
home, out, now = sys.argv[1:4]
with Session(get_engine(load_settings({"FARM_HOME": home}))) as db:
    stats = build_site(db, Path(out), datetime.fromisoformat(now))
print(json.dumps({"build_seconds": round(stats.seconds, 1), "pages": stats.pages,
                  "largest_page_kb": round(stats.largest_bytes / 1e3, 1)}))
"""


def _page_sizes(folder: Path) -> dict[str, Any]:
    sizes = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*.html")}
    over = sorted(p for p, n in sizes.items() if n > MAX_PAGE_BYTES)
    return {"limit_bytes": MAX_PAGE_BYTES, "largest_bytes": max(sizes.values()),
            "pages_over_limit": over, "all_within_limit": not over}


def _previous(path: Path) -> dict[str, Any] | None:
    """The "before" figures of an earlier results file (the whole file if it predates the
    before / after layout)."""
    if not path.exists():
        return None
    old = json.loads(path.read_text())
    return old.get("before", old) if isinstance(old, dict) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dashboard_scale.json")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the database of an earlier run of the same --sessions")
    parser.add_argument("--requests", type=int, default=20,
                        help="timed requests per page type to `farm dashboard serve`")
    parser.add_argument("--before-code", type=Path, default=None,
                        help="a checkout of older code: also time its build and serve on the "
                             "same database, recorded under before.remeasured")
    parser.add_argument("--before-requests", type=int, default=5,
                        help="timed requests per page type to the older code's server")
    parser.add_argument("--before-label", default=None,
                        help="what --before-code is (e.g. its commit), kept in the results")
    args = parser.parse_args()
    work = HERE / ".work" / "dashboard_scale"
    meta_file = work / "generated.json"
    meta = json.loads(meta_file.read_text()) if args.reuse and meta_file.exists() else None
    if meta is not None and meta.get("requested") != args.sessions:
        meta = None
    shutil.rmtree(work / "site", ignore_errors=True)
    shutil.rmtree(work / "site-before", ignore_errors=True)
    if meta is None:
        shutil.rmtree(work, ignore_errors=True)
    before = _previous(args.out)
    settings = load_settings({"FARM_HOME": str(work / "home")})
    with DbSession(get_engine(settings)) as db:
        if meta is None:
            now = datetime.now(UTC).replace(microsecond=0)
            t0 = time.perf_counter()
            counts = _generate(db, args.sessions, now)
            generated = time.perf_counter() - t0
            meta_file.write_text(json.dumps({"requested": args.sessions, "counts": counts,
                                             "now": now.isoformat(),
                                             "generate_seconds": generated}) + "\n")
        else:
            # the history is relative to the moment it was generated: build "then"
            counts, now = meta["counts"], datetime.fromisoformat(meta["now"])
            generated = meta["generate_seconds"]
        load_build = os.getloadavg()
        stats = build_site(db, work / "site", now)
        t0 = time.perf_counter()
        newest = f"n{counts['nights'] - 1:05d}"
        report = render_run_report(load_run_report(db, newest))
        report_seconds = time.perf_counter() - t0
    dispose_engines()
    points, points_page = _max_points(work / "site")
    pages = _served_pages(newest)
    serve = _measure_serve(work / "home", HERE.parent, pages, args.requests)
    after = {
        "database": "sqlite", **counts,
        "devices": DEVICES, "models": MODELS, "configs": len(CONFIGS),
        "generate_seconds": round(generated, 1), "database_reused": meta is not None,
        "site": {"build_seconds": round(stats.seconds, 1), "pages": stats.pages,
                 "total_mb": round(stats.total_bytes / 1e6, 2),
                 "largest_page": stats.largest_page,
                 "largest_page_kb": round(stats.largest_bytes / 1e3, 1),
                 "max_plotted_x_values_per_page": points, "max_points_page": points_page,
                 "page_sizes": _page_sizes(work / "site"),
                 "load_average_before_build": [round(x, 2) for x in load_build]},
        "serve": serve,
        "run_report": {"run": newest, "seconds": round(report_seconds, 1),
                       "mb_with_inline_plotly": round(len(report.encode()) / 1e6, 2)},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "note": "2 shared cores; other work may run on the same machine (see the "
                            "load averages)"},
        "measured_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    result: dict[str, Any] = {"before": before, "after": after}
    if args.before_code is not None:
        code = args.before_code.resolve()
        load_old = os.getloadavg()
        built = subprocess.run(
            [sys.executable, "-c", _OLD_BUILD, str(work / "home"), str(work / "site-before"),
             now.isoformat()], cwd=work, env={**os.environ, "PYTHONPATH": str(code)},
            capture_output=True, text=True, check=True)
        result["before"] = {**(before or {}), "remeasured": {
            "code": args.before_label or str(code), "site": json.loads(built.stdout.splitlines()[-1])
            | {"load_average_before_build": [round(x, 2) for x in load_old]},
            "serve": _measure_serve(work / "home", code, pages, args.before_requests)}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(_markdown(result))
    print(json.dumps(result, indent=2))


def _markdown(result: dict[str, Any]) -> str:
    """The results as a short table: recorded before, re-measured before (if any), after."""
    after, before = result["after"], result.get("before") or {}
    again = before.get("remeasured")
    columns = [("before (recorded)", before.get("site"), before.get("serve")),
               *([("before (re-measured now)", again["site"], again["serve"])] if again else []),
               ("after", after["site"], after["serve"])]

    def cell(value: object) -> str:
        return "-" if value is None else str(value)

    lines = [f"# Dashboard at scale: {after['sessions']:,} sessions, {after['runs']} nightly runs",
             "", "| | " + " | ".join(name for name, _, _ in columns) + " |",
             "|---|" + "---|" * len(columns),
             "| site build (s) | " + " | ".join(cell((site or {}).get("build_seconds"))
                                               for _, site, _ in columns) + " |",
             "| largest page (KB) | " + " | ".join(cell((site or {}).get("largest_page_kb"))
                                                  for _, site, _ in columns) + " |"]
    for kind in after["serve"]["pages"]:
        values = []
        for _, _, serve in columns:
            page = ((serve or {}).get("pages") or {}).get(kind)
            values.append("-" if page is None else f"{page['median_ms']} / {page['max_ms']}")
        lines.append(f"| serve {kind} (median / max ms) | " + " | ".join(values) + " |")
    sizes = after["site"]["page_sizes"]
    lines += ["", f"Every page within {sizes['limit_bytes'] / 1e6:g} MB: "
              f"{'yes' if sizes['all_within_limit'] else 'no: ' + ', '.join(sizes['pages_over_limit'])}."
              f" Serve: {after['serve']['requests_per_page']} requests per page after a first one;"
              f" load average before the build {after['site']['load_average_before_build']},"
              f" around serving {after['serve']['load_average_before']} -> "
              f"{after['serve']['load_average_after']} (2 shared cores). Measured "
              f"{after['measured_at']}; figures in dashboard_scale.json.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
