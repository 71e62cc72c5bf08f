"""Dashboard build time and page sizes on a large synthetic history (default 1,000,000 sessions).

    .venv/bin/python benchmarks/dashboard_scale.py [--sessions N] [--out FILE]

Generates nightly runs (10 devices x 20 models x 6 configs, 3 sessions per job) into a fresh
SQLite database under benchmarks/.work/ with bulk inserts, then times ``build_site`` (the whole
static site) and the single-file report of the newest run, and records the page sizes and the
largest number of plotted values on any page in benchmarks/results/dashboard_scale.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session as DbSession

from dashboards.data import load_run_report
from dashboards.report import render_run_report
from dashboards.site import build_site
from orchestrator.config import load_settings
from orchestrator.schema import Device, Job, Model, Run, Session, Tool
from orchestrator.storage import dispose_engines, get_engine

HERE = Path(__file__).resolve().parent
DEVICES, MODELS, REPEATS = 10, 20, 3
CONFIGS = (("cpu", 1), ("cpu", 2), ("cpu", 4), ("xnnpack", 4), ("gpu", 4), ("nnapi", 4))
CHUNK = 50_000


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dashboard_scale.json")
    args = parser.parse_args()
    work = HERE / ".work" / "dashboard_scale"
    shutil.rmtree(work, ignore_errors=True)
    settings = load_settings({"FARM_HOME": str(work / "home")})
    now = datetime.now(UTC).replace(microsecond=0)
    with DbSession(get_engine(settings)) as db:
        t0 = time.perf_counter()
        counts = _generate(db, args.sessions, now)
        generated = time.perf_counter() - t0
        stats = build_site(db, work / "site", now)
        t0 = time.perf_counter()
        newest = f"n{counts['nights'] - 1:05d}"
        report = render_run_report(load_run_report(db, newest))
        report_seconds = time.perf_counter() - t0
    dispose_engines()
    points, points_page = _max_points(work / "site")
    result = {
        "database": "sqlite", **counts,
        "devices": DEVICES, "models": MODELS, "configs": len(CONFIGS),
        "generate_seconds": round(generated, 1),
        "site": {"build_seconds": round(stats.seconds, 1), "pages": stats.pages,
                 "total_mb": round(stats.total_bytes / 1e6, 2),
                 "largest_page": stats.largest_page,
                 "largest_page_kb": round(stats.largest_bytes / 1e3, 1),
                 "max_plotted_x_values_per_page": points, "max_points_page": points_page},
        "run_report": {"run": newest, "seconds": round(report_seconds, 1),
                       "mb_with_inline_plotly": round(len(report.encode()) / 1e6, 2)},
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                    "note": "2 shared cores; other work ran on the same machine"},
        "measured_at": now.isoformat(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
