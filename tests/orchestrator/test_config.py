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
