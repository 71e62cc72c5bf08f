"""Hostile input through the real ``farm`` command line (issue 28, item 7).

A database URL that is not one, a farm.toml of binary bytes or with a table of the wrong type, a
"log" that never ends (``/dev/zero``) or is not text, a negative run count or lease: each ends in
a one-line error naming what is wrong and where it came from, a hint, and exit code 2; never a
traceback, never a read without limit.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import farm

#: the largest benchmark log the farm reads (``farm.logs.LOG_LIMIT``)
LIMIT = 32 * 1024 * 1024


def _refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The error line and its hint; asserts exit 2, no traceback, and every fragment in them."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2, result.stderr
    assert len(lines) == 1 or lines[1].startswith("hint: "), result.stderr
    text = " ".join(lines)
    for fragment in fragments:
        assert fragment in text, text
    return text


# -- 1. the database URL ---------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "not a url",
    "mysql://u@h/db",  # a dialect this farm does not support (and whose driver is not here)
    "ftp://x",
    "postgresql+pg8000://farm@db/farm",  # a supported database through a driver that is not here
    "postgresql+psycopg://farm@db:port/farm",  # a port that is not a number
])
@pytest.mark.parametrize("command", [("runs", "list"), ("submit",), ("config", "show")])
def test_a_bad_database_url_is_a_usage_error(farm_env: dict[str, str], url: str,
                                             command: tuple[str, ...]) -> None:
    result = farm(*command, env=farm_env | {"FARM_DATABASE_URL": url}, timeout=60)
    if command == ("config", "show") and "pg8000" in url:
        # showing a URL needs no driver; the commands that open the database refuse it
        assert result.returncode == 0, result.stderr
        shown = farm("config", "show", "--json", env=farm_env | {"FARM_DATABASE_URL": url})
        assert '"postgresql+pg8000://farm@db/farm"' in shown.stdout
        return
    _refused(result, "FARM_DATABASE_URL", "sqlite:///", "postgresql+psycopg://")


def test_a_bad_database_url_in_farm_toml_names_the_file(farm_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    config = tmp_path / "farm.toml"
    config.write_text('database_url = "ftp://x"\n')
    _refused(farm("runs", "list", env=farm_env | {"FARM_CONFIG": str(config)}, timeout=60),
             f"database_url from farm.toml ({config})", "sqlite:///")


# -- 2. farm.toml ----------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "named"), [
    (b"\xff\xfe\x00\x01\x80garbage", "not UTF-8 text"),
    (random.Random(28).randbytes(4096), "not UTF-8 text"),
    (b"protocol = 3\n", "protocol"),
    (b'nightly = "x"\n', "nightly"),
    (b"[colour]\nx = 1\n", "colour"),
    (b"[protocol]\nrepeats = true\n", "repeats"),
    (b"[protocol]\nnum_runs = 2.7\n", "num_runs"),
    (b"[nightly]\nthreads = { a = 1 }\n", "nightly.threads"),
    (b"database_url = 3\n", "database_url"),
])
def test_a_bad_farm_toml_is_a_config_error_naming_the_file_and_the_key(
        farm_env: dict[str, str], tmp_path: Path, content: bytes, named: str) -> None:
    config = tmp_path / "farm.toml"
    config.write_bytes(content)
    _refused(farm("config", "show", env=farm_env | {"FARM_CONFIG": str(config)}, timeout=60),
             str(config), named)


# -- 3. and 4. benchmark logs ------------------------------------------------------------------

@pytest.mark.parametrize("command", ["parse-log", "import-log"])
def test_a_log_that_never_ends_is_refused_quickly(farm_env: dict[str, str], command: str) -> None:
    started = time.monotonic()
    args = ("--device", "local", "--model", "X") if command == "import-log" else ()
    result = farm(command, "/dev/zero", *args, env=farm_env, timeout=60)
    elapsed = time.monotonic() - started
    _refused(result, "/dev/zero is larger than 32 MiB", "benchmark log")
    assert elapsed < 20, elapsed


@pytest.mark.parametrize("command", ["parse-log", "import-log"])
def test_a_sparse_file_over_the_limit_is_refused(farm_env: dict[str, str], tmp_path: Path,
                                                 command: str) -> None:
    big = tmp_path / "huge.log"
    with big.open("wb") as file:
        file.truncate(LIMIT + 1)
    args = ("--device", "local", "--model", "X") if command == "import-log" else ()
    _refused(farm(command, str(big), *args, env=farm_env, timeout=60),
             f"{big} is larger than 32 MiB")


def test_parse_log_and_import_log_refuse_random_bytes_for_the_same_reason(
        farm_env: dict[str, str], tmp_path: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(random.Random(7).randbytes(65536))
    parsed = _refused(farm("parse-log", str(noise), env=farm_env, timeout=60),
                      f"{noise} is not a text log")
    imported = _refused(farm("import-log", str(noise), "--device", "local", "--model", "X",
                             env=farm_env, timeout=60), f"{noise} is not a text log")
    assert parsed == imported


# -- 5. numeric settings and the options that override them -----------------------------------

@pytest.mark.parametrize(("option", "value", "named"), [
    ("--num-runs", "-3", "num_runs from option --num-runs is -3; allowed: 1 or more"),
    ("--num-runs", "0", "num_runs from option --num-runs is 0; allowed: 1 or more"),
    ("--min-secs", "-1", "min_secs from option --min-secs is -1.0; allowed: 0 or more"),
    ("--min-secs", "nan", "min_secs from option --min-secs is nan; allowed: 0 or more"),
    ("--repeats", "0", "repeats from option --repeats is 0; allowed: 1 or more"),
    ("--repeats", "-2", "repeats from option --repeats is -2; allowed: 1 or more"),
])
def test_submit_options_are_checked_like_the_settings(farm_env: dict[str, str], option: str,
                                                      value: str, named: str) -> None:
    # an unknown model too: the option must be refused first, before anything is looked up
    _refused(farm("submit", option, value, "--models", "no-such-model", env=farm_env,
                  timeout=60), named)


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("FARM_LEASE_TTL", "-5", "lease_ttl from env FARM_LEASE_TTL is -5; allowed: more than 0"),
    ("FARM_VISIBILITY_TIMEOUT", "0", "visibility_timeout from env FARM_VISIBILITY_TIMEOUT is 0"),
    ("FARM_HEARTBEAT", "0", "heartbeat_s from env FARM_HEARTBEAT is 0.0; allowed: more than 0"),
    ("FARM_HEARTBEAT", "-1", "heartbeat_s from env FARM_HEARTBEAT is -1.0"),
    ("FARM_DEVICE_RETRIES", "-1", "device_retries from env FARM_DEVICE_RETRIES is -1; "
                                  "allowed: 0 or more"),
    ("FARM_DEVICE_RECONNECT", "-3", "device_reconnect_s from env FARM_DEVICE_RECONNECT is -3.0"),
    ("FARM_MIN_BATTERY", "101", "min_battery from env FARM_MIN_BATTERY is 101; "
                                "allowed: 0 to 100"),
    ("FARM_NIGHTLY_CONFIRM_BATCHES", "0", "nightly.confirm_batches from env "
                                          "FARM_NIGHTLY_CONFIRM_BATCHES is 0; allowed: 1 or more"),
])
def test_out_of_range_settings_from_the_environment(farm_env: dict[str, str], variable: str,
                                                    value: str, named: str) -> None:
    for command in (("config", "show"), ("submit", "--models", "no-such-model")):
        _refused(farm(*command, env=farm_env | {variable: value}, timeout=60), named)


def test_out_of_range_settings_from_farm_toml(farm_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "farm.toml"
    config.write_text("lease_ttl = -5\n")
    _refused(farm("config", "show", env=farm_env | {"FARM_CONFIG": str(config)}, timeout=60),
             f"lease_ttl from farm.toml ({config}) is -5; allowed: more than 0")
