from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config import load_settings
from orchestrator.errors import ConfigError
from tests.support.cli import farm


def test_defaults_need_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert settings.home_path == (tmp_path / ".farm").resolve()
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / '.farm' / 'farm.db'}"
    assert settings.is_embedded
    assert settings.values["repeats"].source == "default"


def test_file_then_environment_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "farm.toml").write_text('broker_url = "redis://x:1/0"\n[protocol]\nrepeats = 5\n'
                                        "num_runs = 7\n")
    settings = load_settings({"FARM_NUM_RUNS": "9"})
    assert settings.repeats == 5 and settings.values["repeats"].source.startswith("farm.toml")
    assert settings.num_runs == 9 and settings.values["num_runs"].source == "env FARM_NUM_RUNS"
    assert not settings.is_embedded


@pytest.mark.parametrize("text, fragment", [
    ("repeats = 'many'\n", "not a int"),
    ("colour = 'blue'\n", "unknown setting"),
    ("repeats = \n", "cannot read"),
])
def test_bad_config_file_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           text: str, fragment: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "farm.toml").write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_settings({})


def test_config_show_names_the_source(farm_env: dict[str, str]) -> None:
    result = farm("config", "show", "--json", env=farm_env | {"FARM_REPEATS": "4"})
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["repeats"]["value"] == 4 and rows["repeats"]["source"] == "env FARM_REPEATS"
    assert rows["broker_url"]["source"] == "default"
    assert rows["database_url"]["value"].startswith("sqlite:///")


@pytest.mark.parametrize(("source", "fragment"), [
    ({"FARM_LEASE_TTL": "0"}, "lease_ttl from env FARM_LEASE_TTL is 0; allowed: more than 0"),
    ({"FARM_MIN_SECS": "nan"}, "min_secs from env FARM_MIN_SECS is nan; allowed: 0 or more"),
    ({"FARM_MIN_BATTERY": "-1"}, "min_battery from env FARM_MIN_BATTERY is -1; allowed: 0 to 100"),
    ("[protocol]\nnum_runs = 0\n", r"num_runs from farm.toml \(farm.toml\) is 0; allowed: 1 or more"),
    ("[nightly]\nconfirm_gap_s = -1.5\n", "nightly.confirm_gap_s from farm.toml .* is -1.5"),
])
def test_numeric_settings_outside_their_range_are_config_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: dict[str, str] | str,
        fragment: str) -> None:
    monkeypatch.chdir(tmp_path)
    if isinstance(source, str):
        (tmp_path / "farm.toml").write_text(source)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_settings(source if isinstance(source, dict) else {})
    assert info.value.exit_code == 2 and "(default " in (info.value.hint or "")


def test_the_edges_of_a_range_are_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"FARM_MIN_BATTERY": "100", "FARM_DEVICE_RETRIES": "0",
                              "FARM_DEVICE_RECONNECT": "0", "FARM_REPEATS": "1",
                              "FARM_HEARTBEAT": "0.01"})
    assert (settings.min_battery, settings.device_retries, settings.repeats) == (100, 0, 1)
    assert (settings.device_reconnect_s, settings.heartbeat_s) == (0.0, 0.01)


def test_options_are_checked_like_settings_and_name_themselves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings({"FARM_NUM_RUNS": "9"})
    given = settings.with_options(num_runs=4, min_secs=None)
    assert given.num_runs == 4 and given.values["num_runs"].source == "option --num-runs"
    assert given.values["min_secs"] == settings.values["min_secs"]  # None: not given
    with pytest.raises(ConfigError, match="repeats from option --repeats is 0") as info:
        settings.with_options(repeats=0)
    assert info.value.hint == "give --repeats 1 or more (default 3)"
    with pytest.raises(TypeError, match="flavour"):
        settings.with_options(flavour="vanilla")


@pytest.mark.parametrize(("content", "fragment"), [
    (b"\xff\xfe\x00\x01", r"farm.toml is not UTF-8 text \(byte 0: invalid start byte\)"),
    (b"protocol = 3\n", "farm.toml: protocol is 3, not a table of settings"),
    (b'nightly = "x"\n', "farm.toml: nightly is 'x', not a table of settings"),
    (b"[colour]\nx = 1\n", r"unknown setting\(s\) \[colour\]"),
    (b"[protocol]\nrepeats = true\n", r"repeats from farm.toml \(farm.toml\) is True, not a int"),
    (b"[protocol]\nnum_runs = 2.7\n", "num_runs .* is 2.7, not a int"),
    (b"[protocol.repeats]\nx = 1\n", r"repeats .* is \{'x': 1\}, not a int"),
    (b"[nightly]\nthreads = { a = 1 }\n", r"nightly.threads .* is \{'a': 1\}, not text"),
])
def test_a_farm_toml_of_bytes_or_wrong_types_names_the_file_and_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, fragment: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "farm.toml").write_bytes(content)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_settings({})
    assert info.value.hint


def test_whole_numbers_and_text_numbers_are_still_read(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "farm.toml").write_text("[protocol]\nnum_runs = 7.0\nmin_secs = 2\n"
                                        "[nightly]\nthreads = 4\n")
    settings = load_settings({})
    assert (settings.num_runs, settings.min_secs, settings.nightly_threads) == (7, 2.0, "4")


def test_farm_config_naming_a_device_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FARM_CONFIG names /dev/zero, which is not a file"):
        load_settings({"FARM_CONFIG": "/dev/zero"})


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db", "ftp://x", "sqlite:/farm.db", ""])
def test_a_database_url_of_another_form_is_refused(url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "farm.toml").write_text(f"database_url = {url!r}\n")
    with pytest.raises(ConfigError, match="database_url from farm.toml .*; allowed: sqlite:///PATH "
                                          r"or postgresql\+psycopg://USER@HOST/DB") as info:
        load_settings({})
    assert "FARM_DATABASE_URL" in (info.value.hint or "")


@pytest.mark.parametrize("url", ["sqlite:///farm.db", "sqlite+pysqlite:////tmp/x.db",
                                 "postgresql://farm@db/farm", "postgresql+psycopg://farm@db/farm"])
def test_sqlite_and_postgresql_urls_are_taken(url: str) -> None:
    assert load_settings({"FARM_DATABASE_URL": url}).database_url == url
