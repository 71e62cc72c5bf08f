"""Series: CSV input, nightly values, identity from stored sessions, noise profiles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator import storage
from orchestrator.config import load_settings
from orchestrator.errors import ParseError
from orchestrator.schema import Device, Job, Model, Run, Session
from orchestrator.series import load_history, noise_profile, read_csv


def test_csv_nights_group_sessions_and_take_their_median(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("series,night,value,extra\nb,2026-01-02,12,x\na,3,5\na,3,7\na,3,100\na,1,4\n")
    with pytest.raises(ParseError, match="mix integers and dates"):
        read_csv(path)
    path.write_text("series,night,value\na,3,5\na,3,7\na,3,100\na,1,4\nb,2,1.5\n")
    history = read_csv(path)
    assert sorted(history) == ["a", "b"]
    assert [n.night for n in history["a"].nights] == [1, 3]
    assert history["a"].values() == [4.0, 7.0]
    assert history["a"].nights[1].sessions == (5.0, 7.0, 100.0)


@pytest.mark.parametrize(("text", "message"), [
    ("series,value\na,1\n", "missing column"),
    ("series,night,value\na,x1,3\n", "neither an integer nor an ISO date"),
    ("series,night,value\na,1,-3\n", "not a positive number"),
    ("series,night,value\na,1,nan\n", "not a positive number"),
    ("series,night,value\n,1,3\n", "empty series name"),
    ("series,night,value\n", "no rows"),
])
def test_csv_errors_name_the_line_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ParseError, match=message) as info:
        read_csv(path)
    assert info.value.hint


def test_noise_profile_marks_series_too_noisy_to_gate(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    quiet = [100, 101, 99, 100, 102, 98, 100]
    loud = [100, 130, 80, 100, 125, 70, 110]
    path.write_text("series,night,value\n" + "".join(
        f"{name},{i},{v}\n" for name, values in (("q", quiet), ("l", loud))
        for i, v in enumerate(values)))
    history = read_csv(path)
    assert noise_profile(history["q"], 0, 0.10).too_noisy is False
    profile = noise_profile(history["l"], 0, 0.10)
    assert profile.too_noisy and profile.robust_cv > 0.10 and profile.nights == 7
    assert noise_profile(history["l"], 6, 0.10).nights == 1


def test_history_from_the_database_keys_series_and_keeps_only_nightly_ok_sessions(
        farm_db_env: dict[str, str]) -> None:
    settings = load_settings(farm_db_env)
    start = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    with storage.session_scope(settings) as db:
        device = Device(serial="phone1", kind="adb")
        model = Model(name="m", sha256="ab" * 32, size_bytes=1, path="/m", provenance="user")
        db.add_all([device, model])
        db.flush()
        for night, trigger in ((0, "nightly"), (1, "nightly"), (1, "confirm"), (2, "manual")):
            run = Run(id=f"r{night}{trigger[:2]}", trigger=trigger, created_at=start + timedelta(night))
            job = Job(id=f"j{night}{trigger[:2]}", run=run, seq=0, device=device, model=model,
                      delegate="xnnpack", num_threads=4)
            for i, (value, status) in enumerate([(10.0 + night, "ok"), (11.0 + night, "ok"),
                                                 (None, "failed"), (99.0, "incomplete")]):
                job.sessions.append(Session(repeat_index=i, status=status, inference_avg_ms=value,
                                            model_sha256=model.sha256, tool_version="2.3"))
            db.add(run)
        db.flush()
        history = load_history(db)
    assert len(history) == 1
    (series,) = history.values()
    assert series.key is not None and series.key.device == "phone1"
    assert (series.key.delegate, series.key.threads, series.key.tool_version) == ("xnnpack", 4, "2.3")
    assert series.model_names == ("m",)
    assert [n.night for n in series.nights] == [date(2026, 3, 1), date(2026, 3, 2)]
    assert series.values() == [10.5, 11.5]
