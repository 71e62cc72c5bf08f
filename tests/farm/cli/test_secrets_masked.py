"""No credential of the configuration reaches the screen or a log: the real ``farm`` command line,
its output read whole (stdout and stderr), for every format and for the error paths that quote a
URL (a broker or a database that does not answer, on a closed loopback port)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from farm.nightly import post_alerts
from orchestrator.errors import ConfigError
from tests.support.cli import farm
from tests.support.ports import free_port
from tests.support.postgres import create_database

SECRET = "s3cret"


def _shown(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def _credentials() -> dict[str, str]:
    port = free_port()
    return {
        "FARM_BROKER_URL": f"redis://:{SECRET}%40b@127.0.0.1:{port}/0",
        "FARM_DATABASE_URL": f"postgresql+psycopg://farm:{SECRET}-db@127.0.0.1:{port}/farm"
                             f"?sslmode=disable&sslpassword={SECRET}-q",
        "FARM_NIGHTLY_WEBHOOK_URL": f"https://hooks.slack.com/services/T000/B000/{SECRET}HOOK"
                                    f"?token={SECRET}-t",
    }


@pytest.mark.parametrize("args", [
    ["--wide"], ["--format", "json"], ["--json"], ["--format", "csv"],
], ids=["table", "format-json", "json", "csv"])
def test_config_show_masks_every_credential(clean_env: dict[str, str], args: list[str]) -> None:
    env = clean_env | _credentials() | {"COLUMNS": "250"}
    result = farm("config", "show", *args, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(SECRET) + result.stderr.count(SECRET) == 0, result.stdout
    # the rest of each URL is still there to read
    assert "redis://:***@127.0.0.1:" in result.stdout
    assert "postgresql+psycopg://farm:***@127.0.0.1:" in result.stdout
    assert "sslmode=disable&sslpassword=***" in result.stdout
    assert "https://hooks.slack.com/services/***" in result.stdout


@pytest.mark.parametrize("broker", [
    "redis://:{secret}%40x@127.0.0.1:{port}/0",
    "redis://farm:{secret}@127.0.0.1:{port}/0",
], ids=["password-only", "user-password"])
def test_an_unreachable_broker_is_named_without_its_password(clean_env: dict[str, str],
                                                             broker: str) -> None:
    env = clean_env | {"FARM_BROKER_URL": broker.format(secret=SECRET, port=free_port())}
    result = farm("submit", "--devices", "local", env=env, timeout=120)
    assert result.returncode == 2, _shown(result)
    assert "cannot reach the broker" in result.stderr and "redis://" in result.stderr
    assert SECRET not in _shown(result)


@pytest.mark.parametrize("database", [
    "postgresql+psycopg://farm:{secret}@127.0.0.1:{port}/farm",
    "postgresql+psycopg://farm@127.0.0.1:{port}/farm?password={secret}",
], ids=["user-password", "query-password"])
def test_an_unreachable_database_is_named_without_its_password(clean_env: dict[str, str],
                                                               database: str) -> None:
    env = clean_env | {"FARM_DATABASE_URL": database.format(secret=SECRET, port=free_port())}
    result = farm("runs", "list", env=env, timeout=120)
    assert result.returncode == 1, _shown(result)
    assert "error: cannot open the database" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in _shown(result)


def test_a_database_url_with_a_typo_is_refused_without_its_password(clean_env: dict[str, str]) -> None:
    """No ":" after the scheme: not a URL the settings allow (exit 2), and the message quoting it
    still hides the password, which the URL rule cannot find without a scheme."""
    url = f"postgresql+psycopg//farm:{SECRET}@127.0.0.1:{free_port()}/farm"
    for command in (("runs", "list"), ("config", "show")):
        result = farm(*command, env=clean_env | {"FARM_DATABASE_URL": url}, timeout=120)
        assert result.returncode == 2, _shown(result)
        assert "FARM_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
        assert SECRET not in _shown(result)


def test_a_password_with_escapes_migrates_and_stays_hidden(clean_env: dict[str, str],
                                                          postgres_base_url: str) -> None:
    """``%40`` (an escaped "@") in the password: Alembic's config must take it as it is."""
    url = create_database(postgres_base_url, f"farm_mask_{free_port()}")  # trust auth: any password
    env = clean_env | {"FARM_DATABASE_URL": url.replace("postgres@", f"postgres:{SECRET}%40x@")}
    result = farm("db", "upgrade", env=env, timeout=120)
    assert result.returncode == 0, _shown(result)
    assert "database at revision" in result.stdout
    assert SECRET not in _shown(result)


@pytest.mark.parametrize("broker", [
    "redis://:{secret}@127.0.0.1:{port}/0",
    "redis://127.0.0.1:{port}/0?password={secret}",
], ids=["user-password", "query-password"])
def test_a_workers_log_names_the_broker_without_its_password(farm_env: dict[str, str],
                                                             tmp_path: Path, broker: str) -> None:
    env = farm_env | {"FARM_BROKER_URL": broker.format(secret=SECRET, port=free_port())}
    log = tmp_path / "worker.log"
    with log.open("w") as sink:
        worker = subprocess.Popen([sys.executable, "-m", "farm.cli", "worker", "--devices", "local"],
                                  env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "does not answer" not in log.read_text() and time.monotonic() < deadline:
                assert worker.poll() is None, log.read_text()
                time.sleep(0.2)
            time.sleep(3)  # the consumers' banners and their connection errors
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    written = log.read_text()
    assert "the broker redis://" in written and "does not answer" in written, written
    assert SECRET not in written


def test_a_webhook_that_is_not_http_is_refused_without_its_token() -> None:
    url = f"htps://hooks.slack.com/services/T000/B000/{SECRET}HOOK"
    with pytest.raises(ConfigError) as refused:
        post_alerts(url, {})
    assert "hooks.slack.com/services/***" in refused.value.message
    assert SECRET not in refused.value.message
