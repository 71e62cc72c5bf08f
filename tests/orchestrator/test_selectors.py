"""Device selectors (``orchestrator.selectors``): parsing, matching, and choosing devices with them."""

from __future__ import annotations

import pytest

from farm.devices import list_devices
from orchestrator import repository
from orchestrator.config import load_settings
from orchestrator.errors import PlanError
from orchestrator.planning import parse_names, resolve_devices, resolve_live
from orchestrator.schema import Device
from orchestrator.selectors import is_selector, parse_selector
from orchestrator.storage import session_scope


def _device(serial: str, model: str, os: str | None, ram_mb: int | None, **extra: object
            ) -> Device:
    return Device(serial=serial, kind=str(extra.pop("kind", "adb")), state="device", model=model,
                  os=os, ram_mb=ram_mb, info={"sdk": extra.pop("sdk", None)}, **extra)


FLEET = [
    _device("P7A", "Pixel 7", "Android 14 (SDK 34)", 8 * 1024, soc="GS201", abi="arm64-v8a",
            gpu="Mali-G710", host="lab-1", sdk=34),
    _device("P7B", "Pixel 7", "Android 13 (SDK 33)", 8 * 1024, soc="GS201", abi="arm64-v8a",
            gpu="Mali-G710", host="lab-2", sdk=33),
    _device("S21", "SM-G991B", "Android 13 (SDK 33)", 8 * 1024, soc="s5e9840", abi="arm64-v8a",
            gpu="Mali-G78", host="lab-2", sdk=33),
    _device("NOK", "Nokia 1.3", "Android 10 (SDK 29)", 1024, soc="QM215", abi="armeabi-v7a",
            gpu="Adreno (TM) 308", host="lab-1", sdk=29),
    _device("local", "Intel Xeon", "Linux 6.1", 24 * 1024, abi="x86_64", kind="local"),
]


def _chosen(text: str) -> list[str]:
    return [d.serial for d in parse_selector(parse_names(text, "--devices")).select(FLEET)]


@pytest.mark.parametrize(("text", "serials"), [
    ('model:"Pixel 7"', ["P7A", "P7B"]),
    ('model:"Pixel 7",android>=14', ["P7A"]),
    ("model:pixel*", ["P7A", "P7B"]),  # text ignores case; * is a wildcard
    ("abi:arm64-v8a,host:lab-2", ["P7B", "S21"]),
    ("android<14", ["P7B", "S21", "NOK"]),  # `local` runs Linux: it has no Android version
    ("sdk=33", ["P7B", "S21"]),
    ("ram>=8G", ["P7A", "P7B", "S21", "local"]),
    ("ram<2048", ["NOK"]),
    ("gpu:mali*", ["P7A", "P7B", "S21"]),
    ("soc:gs201,android>13.5", ["P7A"]),
    ("kind:local", ["local"]),
    ('model:"Galaxy S24"', []),
])
def test_selectors_match_recorded_attributes(text: str, serials: list[str]) -> None:
    assert _chosen(text) == serials


def test_serials_and_transports_are_not_selectors() -> None:
    assert not is_selector(["R5CT30XYZAB", "127.0.0.1:7100", "all", "local"])
    assert is_selector(['model:"Pixel 7"']) and is_selector(["android>=14"])


@pytest.mark.parametrize(("text", "problem"), [
    ("android>=fourteen", "android needs a number"),
    ("model>=7", "model is text"),
    ("abi:arm64-v8a,R5CT30XYZAB", "'R5CT30XYZAB' is not a selector term"),
    ("soc:", "has no value"),
])
def test_a_bad_selector_names_the_term(text: str, problem: str) -> None:
    with pytest.raises(PlanError, match=problem) as info:
        parse_selector(parse_names(text, "--devices"))
    assert info.value.exit_code == 2 and "android>=14" in (info.value.hint or "")


def _store_fleet() -> None:
    with session_scope(load_settings()) as db:
        for device in FLEET:
            repository.upsert_device(db, {
                "serial": device.serial, "kind": device.kind, "state": "device",
                "model": device.model, "os": device.os, "ram_mb": device.ram_mb, "soc": device.soc,
                "abi": device.abi, "gpu": device.gpu, "host": device.host,
                "info": {**device.info, "worker": device.host} if device.host else device.info})


def test_planning_chooses_devices_by_selector(db_env: dict[str, str]) -> None:
    _store_fleet()
    with session_scope(load_settings()) as db:
        chosen = resolve_devices(db, parse_names('model:"Pixel 7",android>=14', "--devices"))
        assert [d.serial for d in chosen] == ["P7A"]
        # distributed: among the phones of live workers
        live = resolve_live(db, parse_names("host:lab-2", "--devices"), max_age_s=60)
        assert [d.serial for d in live] == ["P7B", "S21"]
        with pytest.raises(PlanError, match='--devices model:Galaxy S24 matches no online device'
                           ) as info:
            resolve_devices(db, parse_names('model:"Galaxy S24"', "--devices"))
        assert "P7A (Pixel 7)" in (info.value.hint or "")
        assert "farm devices list --select" in (info.value.hint or "")


def test_devices_list_shows_what_a_selector_matches(db_env: dict[str, str]) -> None:
    _store_fleet()
    rows, _ = list_devices(load_settings(), scan=False, selector="ram>=8G,abi:arm64-v8a")
    assert [r["serial"] for r in rows] == ["P7A", "P7B", "S21"]
    adreno, _ = list_devices(load_settings(), scan=False, selector="gpu:adreno*")
    assert [r["serial"] for r in adreno] == ["NOK"]
