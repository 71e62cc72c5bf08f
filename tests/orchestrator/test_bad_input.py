"""Bad input: a one-line error naming the problem, a hint, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.orm import Session as DbSession

from orchestrator.config import load_settings
from orchestrator.schema import Job, Model, Run
from tests.support.cli import farm


def _counts(env: dict[str, str]) -> tuple[int, int, int]:
    url = load_settings(env).effective_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return (0, 0, 0)
    engine = create_engine(url)
    if "runs" not in inspect(engine).get_table_names():
        return (0, 0, 0)
    with DbSession(engine) as db:
        return tuple(db.scalar(select(func.count()).select_from(t)) or 0  # type: ignore[return-value]
                     for t in (Run, Job, Model))


def _assert_clean_error(result, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and fragment in lines[0]
    assert len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("hint: "))
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (["submit", "--models", "no-such-model"], "unknown model 'no-such-model'"),
    (["submit", "--devices", "R5CT90XYZ"], "unknown device 'R5CT90XYZ'"),
    (["submit", "--threads", "1,two"], "'two' is not a thread count"),
    (["submit", "--delegates", "cpu,tpu"], "unknown delegate 'tpu'"),
    (["runs", "show", "deadbeef"], "no run 'deadbeef'"),
])
def test_bad_names_and_lists(farm_db_env: dict[str, str], args: list[str], fragment: str) -> None:
    before = _counts(farm_db_env)
    _assert_clean_error(farm(*args, env=farm_db_env), fragment)
    assert _counts(farm_db_env) == before
    assert before[:2] == (0, 0)


@pytest.mark.parametrize("content", [b"definitely not a flatbuffer", b""])
def test_models_add_rejects_non_tflite(farm_db_env: dict[str, str], tmp_path: Path,
                                       content: bytes) -> None:
    bad = tmp_path / "model.tflite"
    bad.write_bytes(content)
    _assert_clean_error(farm("models", "add", str(bad), env=farm_db_env), "not a TFLite model")
    assert _counts(farm_db_env)[2] == 0


def test_one_bad_file_registers_none(farm_db_env: dict[str, str], tmp_path: Path) -> None:
    from models.builtin import build_builtin_models

    good = build_builtin_models(tmp_path)["builtin-segmenter"]
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"nope")
    _assert_clean_error(farm("models", "add", str(good), str(bad), env=farm_db_env), "bad.tflite")
    assert _counts(farm_db_env)[2] == 0
    assert farm("models", "add", str(good), env=farm_db_env).returncode == 0
    assert _counts(farm_db_env)[2] == 1


def test_unwritable_farm_home(farm_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = farm_env | {"FARM_HOME": str(blocker / "home")}
    _assert_clean_error(farm("submit", env=env), "cannot create FARM_HOME")
    assert blocker.read_text() == "not a folder"
