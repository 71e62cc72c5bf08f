"""`farm report` and `farm report --compare` through the real CLI, looked at in a real browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.dashboards.conftest import Visitor
from tests.dashboards.history import EVIL, Farm, JobSpec, nightly
from tests.support.cli import farm

START = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _report(env: dict[str, str], *args: str) -> Path:
    out = Path(env["FARM_HOME"]) / "out.html"
    result = farm("report", *args, "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    return out


@pytest.mark.slow
def test_run_report_shows_every_section(farm_db: Farm, farm_db_env: dict[str, str],
                                        visitor: Visitor) -> None:
    farm_db.device("p7")
    farm_db.device("s23", manufacturer="samsung", model="SM-S911B")
    for name in ("deeplabv3", "magenta-transfer"):
        farm_db.model(name)
    runs = nightly(farm_db, 2, start=START, devices=["p7", "s23"],
                   models=["deeplabv3", "magenta-transfer"])
    # a hot session (47.5 C after) exists in the last night only; add a failure and a skip
    extra = [JobSpec("p7", "deeplabv3", "nnapi", 4, [1.0], status="failed",
                     error=("delegate_failed", "NNAPI: failed to prepare the model")),
             JobSpec("s23", "deeplabv3", "nnapi", 4, [], status="skipped",
                     error=("unsupported", "no NNAPI driver"))]
    farm_db.run("extra", START + timedelta(days=5), extra, trigger="manual")
    farm_db.db.commit()

    page = _report(farm_db_env, runs[-1].id)
    text = page.read_text()
    assert text.count("plotly.js v") == 1  # inlined once: the file works offline
    assert "<script src=" not in text
    visit = visitor.open(page.as_uri(), "run-report")
    points = visit.points()
    # per device: latency, start-up, memory; then size, threads, speedup, coverage, temperatures
    assert len(points) == 2 * 3 + 5, points
    assert all(n > 0 for n in points.values()), points
    body = visit.text()
    assert "Inference time on p7" in visit.svg_text() and "Model size (MB)" in visit.svg_text()
    # 2 devices x 2 models x (cpu x1, cpu x4, gpu x4), 2-3 sessions each
    assert "12\njobs" in body and "28\nsessions" in body
    # the gpu runs of deeplabv3 were partial: the refused ops are listed
    coverage = visit.page.inner_text("#coverage")
    assert "CUSTOM_OP_X, RESIZE_BILINEAR" in coverage and "magenta" not in coverage
    # hot sessions come first in the environment table and are flagged
    first = visit.page.locator("#environment tbody tr").first.inner_text()
    assert "hot" in first and "47.5" in first
    assert "8\nhot sessions" in body  # the gpu jobs' sessions: 2 devices x 2 models x 2
    provenance = visit.page.inner_text("#prov-tools")
    assert "benchmark_model" in provenance and "2.16.1" in provenance and "ab" * 32 in provenance
    assert "google/s23/14/UQ1A:user/release-keys" in visit.page.inner_text("#prov-devices")

    failures = visitor.open(_report(farm_db_env, "extra").as_uri(), "failures-only")
    table = failures.page.inner_text("#failures")
    assert "NNAPI: failed to prepare the model" in table and "no NNAPI driver" in table
    assert "skipped" in table and "delegate_failed" in table


def test_report_of_one_session_and_of_an_empty_database(
        farm_db: Farm, farm_db_env: dict[str, str], visitor: Visitor) -> None:
    result = farm("report", env=farm_db_env)
    assert result.returncode == 2 and "no runs yet" in result.stderr  # NotFound
    assert "farm submit" in result.stderr
    missing = farm("report", "nosuchrun", env=farm_db_env)
    assert missing.returncode != 0 and "no run 'nosuchrun'" in missing.stderr

    farm_db.device("p7")
    farm_db.model("tiny")
    farm_db.run("single", START, [JobSpec("p7", "tiny", "cpu", 1, [7.25])], trigger="manual")
    farm_db.db.commit()
    visit = visitor.open(_report(farm_db_env).as_uri(), "one-session")  # the newest run
    points = visit.points()
    latency = next(k for k in points if k.endswith("-1"))
    assert points[latency] > 0
    row = visit.page.inner_text("#results tbody tr")
    assert "7.250" in row and "tiny" in row


def test_names_render_as_text_everywhere(farm_db: Farm, farm_db_env: dict[str, str],
                                         visitor: Visitor) -> None:
    farm_db.device(EVIL, model=EVIL)
    farm_db.model(EVIL)
    farm_db.model("plain")
    farm_db.run("evil", START, [
        JobSpec(EVIL, EVIL, "cpu", 1, [5.0, 5.5]), JobSpec(EVIL, EVIL, "cpu", 2, [3.0]),
        JobSpec(EVIL, EVIL, "gpu", 2, [1.0], coverage="partial", unsupported=(EVIL,)),
        JobSpec(EVIL, "plain", "gpu", 2, [1.0], status="failed", error=("crash", EVIL)),
    ], trigger="manual")
    farm_db.db.commit()
    page = _report(farm_db_env, "evil")
    assert EVIL not in page.read_text()
    visit = visitor.open(page.as_uri(), "escaping")  # fails on any alert()
    assert visit.page.evaluate("document.querySelectorAll('script:not([src])').length") >= 1
    assert EVIL in visit.page.inner_text("#results") and EVIL in visit.page.inner_text("#failures")
    assert EVIL in visit.page.inner_text("#coverage")
    svg = visit.svg_text()
    assert EVIL in svg  # axis ticks, titles and legends show the name as text
    assert visit.page.title() == "tflite-farm run evil"

    site = Path(farm_db_env["FARM_HOME"]) / "site"
    assert farm("dashboard", "build", "-o", str(site), env=farm_db_env).returncode == 0
    names = [p.name for p in site.rglob("*.html")]
    assert all("<" not in n and ">" not in n for n in names), names
    fleet = visitor.open((site / "index.html").as_uri(), "escaping-site")
    assert EVIL in fleet.page.inner_text("#fleet")
    fleet.page.click(f"#fleet a:text-is('{EVIL}')")
    fleet.page.wait_for_load_state("load")
    assert fleet.page.title() == f"{EVIL} · tflite-farm"


def test_compare_sorts_by_the_largest_change(farm_db: Farm, farm_db_env: dict[str, str],
                                             visitor: Visitor) -> None:
    farm_db.device("p7")
    for name in ("a", "b", "c"):
        farm_db.model(name)
    farm_db.run("before", START, [JobSpec("p7", "a", "cpu", 1, [10.0, 9.0, 11.0]),
                                  JobSpec("p7", "b", "cpu", 1, [20.0, 19.0, 21.0]),
                                  JobSpec("p7", "c", "cpu", 1, [30.0])], trigger="manual")
    farm_db.run("after", START + timedelta(days=1), [
        JobSpec("p7", "a", "cpu", 1, [11.0, 10.5, 11.5]),  # +10 %
        JobSpec("p7", "b", "cpu", 1, [10.0, 9.5, 10.5]),  # -50 %
        JobSpec("p7", "a", "cpu", 4, [4.0])], trigger="manual")  # only in B
    farm_db.db.commit()
    visit = visitor.open(_report(farm_db_env, "--compare", "before", "after").as_uri(), "compare")
    rows = visit.page.locator("#changes tbody tr").all_inner_texts()
    assert len(rows) == 2
    assert "\tb\t" in rows[0] and "-50.0%" in rows[0] and "19.000-21.000 (3)" in rows[0]
    assert "\ta\t" in rows[1] and "+10.0%" in rows[1]
    # spreads: a went from 9-11 to 10.5-11.5: between -4.5 % and +27.8 %
    assert "-4.5% to +27.8%" in rows[1]
    only = visit.page.inner_text("#only")
    assert "cpu x4" in only and "\tc\t" in only
    assert all(n > 0 for n in visit.points().values())
