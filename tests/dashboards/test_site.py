"""`farm dashboard build|serve`: every page type in a real browser, drilldown links, bounded
history, and the server rendering from the database on request."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboards.serve import make_server
from dashboards.site import SiteOptions, build_site
from orchestrator.config import load_settings
from orchestrator.queries import nightly_history
from orchestrator.storage import session_scope
from tests.dashboards.conftest import Visitor
from tests.dashboards.history import Farm, JobSpec, nightly
from tests.support.cli import farm

START = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
DEVICES = ["p7", "s23"]
MODELS = ["deeplabv3", "magenta"]


@pytest.mark.slow
def test_every_page_type_and_the_drilldown(farm_db: Farm, farm_db_env: dict[str, str],
                                           visitor: Visitor) -> None:
    for serial in DEVICES:
        farm_db.device(serial)
    farm_db.device("gone", state="offline", last_seen=START)
    for name in MODELS:
        farm_db.model(name)
    nightly(farm_db, 12, start=datetime.now(UTC) - timedelta(days=12), devices=DEVICES,
            models=MODELS, step_night=8)
    farm_db.db.commit()
    site = Path(farm_db_env["FARM_HOME"]) / "site"
    result = farm("dashboard", "build", "-o", str(site), env=farm_db_env)
    assert result.returncode == 0, result.stderr
    assert len(list(site.rglob("plotly.min.js"))) == 1
    pages = list(site.rglob("*.html"))
    # fleet, runs, models, trends + the 10 newest runs + 3 devices + 2 models + 2 trends
    assert len(pages) == 4 + 10 + 3 + 2 + 2
    for page in pages:
        text = page.read_text()
        assert "plotly.js v" not in text and text.count("plotly.min.js") == 1

    fleet = visitor.open((site / "index.html").as_uri(), "fleet")
    rows = fleet.page.locator("#fleet tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows] == ["gone", "p7", "s23"]
    assert "offline" in rows[0] and "healthy" in rows[1]

    fleet.page.click("#fleet a:text-is('p7')")
    fleet.page.wait_for_load_state("load")
    fleet.page.wait_for_timeout(300)
    fleet.page.screenshot(path=str(visitor.shots / "device.png"), full_page=True)
    assert not fleet.errors
    points = fleet.points()
    for chart in ("dev-latency", "dev-startup", "dev-memory", "dev-threads", "dev-coverage",
                  "dev-speedup", "dev-temps", "dev-history"):
        assert points[chart] > 0, (chart, points)
    assert points["dev-history"] == 2 * 3 * 12  # 2 models x 3 configs over 12 nights
    assert "CUSTOM_OP_X" in fleet.page.evaluate(
        "document.getElementById('dev-coverage').data[0].hovertext.flat().join(' ')")

    fleet.page.click("main .meta a:text-is('magenta')")
    fleet.page.wait_for_load_state("load")
    assert fleet.page.url.endswith(".html") and "/models/" in fleet.page.url
    assert fleet.page.inner_text("h1") == "magenta"
    fleet.page.click("a:text-is('nightly trend')")
    fleet.page.wait_for_load_state("load")
    assert "/trends/" in fleet.page.url and not fleet.errors

    for name, shot in (("runs.html", "runs"), ("models.html", "models"),
                       ("trends.html", "trends")):
        visit = visitor.open((site / name).as_uri(), shot)
        assert visit.page.locator("main table a").count() > 0
    run_page = visitor.open(next((site / "runs").glob("n0011-*.html")).as_uri(), "run")
    assert all(n > 0 for n in run_page.points().values())
    model_page = visitor.open(next((site / "models").glob("deeplabv3-*.html")).as_uri(), "model")
    assert all(n > 0 for n in model_page.points().values())
    trend = visitor.open(next((site / "trends").glob("deeplabv3-*.html")).as_uri(), "trend")
    trend_points = trend.points()
    assert len(trend_points) == 2 and all(n == 3 * 12 for n in trend_points.values())


@pytest.mark.slow
def test_long_histories_are_bucketed_in_sql(farm_db: Farm, farm_db_env: dict[str, str],
                                            visitor: Visitor, tmp_path: Path) -> None:
    farm_db.device("p7")
    farm_db.model("m")
    values: dict[int, float] = {}
    for night in range(90):
        values[night] = 10.0 + night % 7  # a weekly pattern: every bucket has its own mean
        farm_db.run(f"r{night:03d}", START + timedelta(days=night),
                    [JobSpec("p7", "m", "cpu", 1, [values[night]])])
    farm_db.db.commit()

    history = nightly_history(farm_db.db, device="p7", max_points=30)  # 90 nights -> 3 a point
    assert len(history) <= 30 and sum(p.nights for p in history) == 90
    first_day = START.date()
    for point in history:
        offset = (point.night.date() - first_day).days
        nights = [values[n] for n in range(offset, offset + point.nights)]
        assert point.value_ms == pytest.approx(statistics.mean(nights))
        assert (point.low_ms, point.high_ms) == (min(nights), max(nights))

    stats = build_site(farm_db.db, tmp_path / "site", datetime.now(UTC),
                       SiteOptions(max_points=30))
    assert stats.pages == 4 + 10 + 1 + 2
    visit = visitor.open(next((tmp_path / "site" / "trends").glob("m-*.html")).as_uri(), "bucketed")
    assert 0 < visit.points()["trend-0"] <= 30


def test_many_points_use_webgl_few_do_not() -> None:
    from dashboards.figures import GL_POINTS, trend_figure
    from orchestrator.queries import HistoryPoint

    def points(n: int) -> list[HistoryPoint]:
        return [HistoryPoint("d", "m", "cpu", 1, START + timedelta(days=i), 1.0, 1.0, 1.0, 1)
                for i in range(n)]

    few = trend_figure(points(30), "t", lambda p: p.config)
    assert {t["type"] for t in few["data"]} == {"scatter"}
    many = trend_figure(points(GL_POINTS + 1), "t", lambda p: p.config)
    assert {t["type"] for t in many["data"]} == {"scattergl"}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (loopback test)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_renders_from_the_database_on_request(farm_db: Farm, farm_db_env: dict[str, str],
                                                    visitor: Visitor) -> None:
    farm_db.device("p7")
    farm_db.model("m")
    farm_db.run("first", START, [JobSpec("p7", "m", "cpu", 1, [5.0])], trigger="manual")
    farm_db.db.commit()
    settings = load_settings()
    server = make_server(lambda: session_scope(settings), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/"
        visit = visitor.open(base, "served-fleet")
        assert "first" in visit.page.inner_text("#runs")
        farm_db.run("second", START + timedelta(days=1),
                    [JobSpec("p7", "m", "cpu", 1, [6.0])], trigger="manual")
        farm_db.db.commit()
        visit.page.reload()
        assert "second" in visit.page.inner_text("#runs")  # no rebuild step: read on request
        visit.page.click("#runs a:text-is('second')")
        visit.page.wait_for_load_state("load")
        assert visit.page.locator(".js-plotly-plot").count() > 0 and not visit.errors
        assert _get(base + "nothing.html")[0] == 404
        assert _get(base + "../../../etc/passwd")[0] == 404
        status, script = _get(base + "plotly.min.js")
        assert status == 200 and "plotly.js v" in script
    finally:
        server.shutdown()
        server.server_close()


def test_cli_serve_binds_loopback(farm_env: dict[str, str]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "farm.cli", "dashboard", "serve",
                             "--port", "0"], env=farm_env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        status, body = _get(f"http://127.0.0.1:{match.group(1)}/")
        assert status == 200 and "Fleet" in body and "no devices yet" in body  # empty database
    finally:
        proc.terminate()
        proc.wait(timeout=30)
