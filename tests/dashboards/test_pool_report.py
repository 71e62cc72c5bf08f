"""A pool run's report and dashboard page: the pool in the header, the phone that ran each job, each
phone's share of the work and the jobs that moved; an --each run's report has none of it."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from dashboards.data import load_run_report
from dashboards.pages import run_path
from dashboards.report import render_run_report
from dashboards.site import Site, SiteOptions
from tests.dashboards.history import EVIL, Farm, JobSpec
from tests.support.cli import farm

START = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
SELECTOR = "model=Pixel 7"
MEMBERS = ("p7a", "p7b", "p7c")
LOST = ("p7a was lost after 1 session(s); the rest runs as job pool-run-3 on another phone of "
        "the pool")
# Each session's wall time, by the phone that claimed the job. p7c is a member that ran nothing.
JOBS = [
    JobSpec("p7a", "tiny", "cpu", 1, [5.0, 5.2], seconds=(3.0, 4.0)),
    JobSpec("p7b", "tiny", "cpu", 4, [2.0, 2.1], seconds=(12.0, 13.0)),
    JobSpec("p7a", "big", "cpu", 1, [40.0], status="moved", seconds=(3.0,),
            error=("device_lost", LOST)),
    JobSpec("p7b", "big", "cpu", 1, [41.0], seconds=(5.0,)),  # the moved job's successor
    JobSpec("", "big", "cpu", 4, [], status="pending"),  # no phone has claimed it yet
]
EACH_HEAD = ["device", "model", "provenance", "size MB", "config", "status", "median ms",
             "min ms", "max ms", "sessions", "init ms", "first ms", "peak MB", "coverage",
             "error"]


class _Tables(HTMLParser):
    """The text of every cell of every table with an id: id -> rows (the head row first)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id")
            if self._table:
                self.tables[self._table] = []
        elif self._table and tag == "tr":
            self.tables[self._table].append([])
        elif self._table and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif self._table and tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _pool_run(farm_db: Farm, selector: str = SELECTOR,
              members: tuple[str, ...] = MEMBERS) -> None:
    for serial in members:
        farm_db.device(serial, model="Pixel 7")
    for name in ("tiny", "big"):
        farm_db.model(name)
    pool = farm_db.pool("0123456789abcdef", selector, members)
    jobs = [JobSpec(members[MEMBERS.index(j.device)] if j.device else "", j.model, j.delegate,
                    j.threads, j.values, status=j.status, error=j.error, seconds=j.seconds)
            for j in JOBS]
    farm_db.run("pool-run", START, jobs, trigger="manual", pool=pool)
    farm_db.db.commit()


def _expected_share() -> list[list[str]]:
    """The share table, from the wall times written above (independent of the code under test)."""
    busy = {serial: sum(sum(j.seconds) for j in JOBS if j.device == serial) for serial in MEMBERS}
    total = sum(busy.values())
    assert busy == {"p7a": 10.0, "p7b": 30.0, "p7c": 0.0} and total == 40.0
    rows = []
    for serial in MEMBERS:
        mine = [j for j in JOBS if j.device == serial]
        rows.append([serial, str(len(mine)), str(sum(j.status == "moved" for j in mine)),
                     str(sum(len(j.values) for j in mine)), f"{busy[serial]:.1f}",
                     f"{100 * busy[serial] / total:.1f}%"])
    return rows


def _check_pool_page(text: str) -> None:
    assert (f"pool <b>{SELECTOR}</b> of 3 phones (p7a, p7b, p7c)") in text
    assert "<h2>Pool share</h2>" in text
    tables = _Tables(text).tables
    share = tables["pool-share"]
    assert share[0] == ["phone", "jobs run", "moved away", "sessions", "busy s", "share"]
    assert share[1:] == _expected_share()
    assert [(r[1], r[2]) for r in share[1:]] == [("2", "1"), ("2", "0"), ("0", "0")]
    assert [r[-1] for r in share[1:]] == ["25.0%", "75.0%", "0.0%"]
    moved = tables["moved"]
    assert moved[1:] == [["p7a", "big", "cpu x1", "1", "40.000", LOST]]
    assert "1 of its jobs wait for a phone." in text
    results = tables["results"]
    assert results[0][:3] == ["device", "pool", "model"]
    assert [(r[0], r[1], r[2], r[6]) for r in results[1:]] == [
        ("p7a", SELECTOR, "tiny", "done"), ("p7b", SELECTOR, "tiny", "done"),
        ("p7a", SELECTOR, "big", "moved"), ("p7b", SELECTOR, "big", "done"),
        ("(no phone yet)", SELECTOR, "big", "pending")]
    assert "<span class='badge moved'>moved</span>" in text
    # the unclaimed job is no device: two phones ran this run's jobs
    assert "<b>2</b><span>devices</span>" in text and "<b>1</b><span>moved</span>" in text
    assert "Latency on (no phone yet)" not in text and "Latency on p7b" in text
    assert "Busy seconds per phone of pool" in text  # the chart


def test_pool_run_report_shows_the_pool_and_each_phones_share(
        farm_db: Farm, farm_db_env: dict[str, str]) -> None:
    _pool_run(farm_db)
    out = Path(farm_db_env["FARM_HOME"]) / "pool.html"
    result = farm("report", "pool-run", "-o", str(out), env=farm_db_env)
    assert result.returncode == 0, result.stderr
    _check_pool_page(out.read_text())


def test_pool_run_page_on_the_dashboard(farm_db: Farm, farm_db_env: dict[str, str]) -> None:
    _pool_run(farm_db)
    page = Site(farm_db.db, datetime.now(UTC), SiteOptions()).render(run_path("pool-run"))
    assert page is not None
    _check_pool_page(page)


def test_pool_names_are_escaped(farm_db: Farm, farm_db_env: dict[str, str]) -> None:
    _pool_run(farm_db, selector=EVIL, members=("p7a", EVIL, "p7c"))
    text = render_run_report(load_run_report(farm_db.db, "pool-run"))
    assert EVIL not in text
    assert f"pool <b>{html.escape(EVIL)}</b> of 3 phones" in text
    share = _Tables(text).tables["pool-share"]
    assert [r[0] for r in share[1:]] == ["p7a", EVIL, "p7c"]  # the parser unescapes
    assert [r[-1] for r in share[1:]] == ["25.0%", "75.0%", "0.0%"]


def test_each_run_report_has_no_pool_section(farm_db: Farm,
                                             farm_db_env: dict[str, str]) -> None:
    farm_db.device("p7")
    farm_db.model("tiny")
    farm_db.run("each-run", START, [JobSpec("p7", "tiny", "cpu", 1, [7.25], seconds=(2.0,))],
                trigger="manual")
    farm_db.db.commit()
    report = load_run_report(farm_db.db, "each-run")
    assert report.pools == []
    text = render_run_report(report)
    for absent in ("Pool share", "pool-share", "id='moved'", "Moved jobs", "pool <b>",
                   "<span>moved</span>", "Busy seconds"):
        assert absent not in text, absent
    tables = _Tables(text).tables
    assert tables["results"][0] == EACH_HEAD
    assert tables["results"][1][:2] == ["p7", "tiny"]
