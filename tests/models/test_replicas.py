"""Replicas built for real: the converter environment (TensorFlow, installed once per machine and
cached), every light catalog entry, the size rule, metadata, LiteRT and the host runner.

CI has no converter cache: the first run installs it (about 50 s from PyPI) and the builds take
a few minutes on 2 cores (in parallel, one job per CPU). The heavy entries (Xception65, and the
InceptionV3 transfer networks, whose architecture the MobileNetV2 transfer entries build at another
width) are built by ``benchmarks/zoo_build.py``.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from models.catalog import CatalogEntry, load_catalog
from models.metadata import read_metadata
from models.replicas import SIZE_TOLERANCE, BuildResult, build_replicas, plan_builds
from models.tflite_file import sha256_file
from orchestrator import storage
from orchestrator.config import Settings, load_settings
from orchestrator.errors import CatalogError
from workers.tools import host_runner

pytestmark = pytest.mark.slow

LIGHT = load_catalog().select(["all"], include_heavy=False)
#: the quickest entries (a few seconds each), for the tests that build again
SMALL = load_catalog().select(["magenta-mnv2-transfer-fp16", "magenta-mnv2-predict-fp16"])
#: entries whose reference size is a rounded figure the replica cannot meet; see the reason
KNOWN_SIZE_GAPS = {
    "magenta-mnv2-transfer-int8": (
        "the reference is '~0.2 MB'; the same network's float16 file matches the exact 422,086 B "
        "within 6%, and its 178k int8 weights alone are 178 KB before TFLite's per-channel int8 "
        "overhead, so the file lands near 254 KB"),
}


def _use_home(mp: pytest.MonkeyPatch, home: Path) -> Settings:
    """A farm home of its own, no FARM_* from the caller, but the machine's converter cache."""
    for key in [k for k in os.environ if k.startswith("FARM_") and k != "FARM_CONVERTER_CACHE"]:
        mp.delenv(key)
    mp.setenv("FARM_HOME", str(home))
    return load_settings()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BuildResult]]:
    """Every light entry, built with the default jobs (one per CPU)."""
    with pytest.MonkeyPatch.context() as mp:
        results = build_replicas(_use_home(mp, tmp_path_factory.mktemp("zoo-home")), LIGHT)
        yield {r.entry.name: r for r in results}
        storage.dispose_engines()


@pytest.fixture
def other_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    yield _use_home(monkeypatch, tmp_path / "farm-home")
    storage.dispose_engines()


def _registered(settings: Settings) -> dict[str, tuple[object, ...]]:
    from sqlalchemy import select

    from orchestrator.schema import Model

    with storage.session_scope(settings) as db:
        return {m.name: (m.provenance, m.catalog_name, m.sha256, m.size_bytes)
                for m in db.scalars(select(Model))}


def _ids(entries: list[CatalogEntry]) -> list[str]:
    return [e.name for e in entries]


@pytest.mark.parametrize("entry", LIGHT, ids=_ids(LIGHT))
def test_size_rule(built: dict[str, BuildResult], entry: CatalogEntry,
                   request: pytest.FixtureRequest) -> None:
    if entry.name in KNOWN_SIZE_GAPS:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_SIZE_GAPS[entry.name], strict=True))
    result = built[entry.name]
    assert result.built and result.path.stat().st_size == result.size_bytes
    assert result.deviation is not None, f"{entry.name} has no reference size"
    assert abs(result.deviation) <= SIZE_TOLERANCE, (
        f"{entry.name}: {result.size_bytes:,} B is {result.deviation:+.1%} off the reference "
        f"{entry.reference_size_bytes:,} B")


@pytest.mark.parametrize("entry", LIGHT, ids=_ids(LIGHT))
def test_loads_in_litert_and_the_host_runner(built: dict[str, BuildResult], entry: CatalogEntry
                                             ) -> None:
    path = built[entry.name].path
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    assert [tuple(d["shape"]) for d in interpreter.get_input_details()] == [
        t.shape for t in entry.inputs]
    assert [tuple(d["shape"]) for d in interpreter.get_output_details()] == [
        t.shape for t in entry.outputs]
    # float I/O for every recipe, int8 included (the notebooks kept float inputs and outputs)
    assert {d["dtype"] for d in interpreter.get_input_details()} == {np.float32}
    out = io.StringIO()
    code = host_runner.main([f"--graph={path}", "--num_threads=2", "--num_runs=1",
                             "--warmup_runs=1", "--min_secs=0", "--warmup_min_secs=0"], out)
    assert code == 0, out.getvalue()
    assert "Inference timings in us" in out.getvalue()


@pytest.mark.parametrize("entry", LIGHT, ids=_ids(LIGHT))
def test_metadata_read_back(built: dict[str, BuildResult], entry: CatalogEntry) -> None:
    meta = read_metadata(built[entry.name].path)
    assert meta is not None and meta.name == f"{entry.name} (random-weight replica)"
    assert f"replica of {entry.official.handle}" in (meta.description or "")
    assert "weights are random" in (meta.description or "")
    if entry.labels_path:
        labels = meta.associated_files[entry.labels_path.name]
        assert labels == entry.labels_path.read_text().splitlines()


def test_registered_as_replicas_and_cached(built: dict[str, BuildResult]) -> None:
    from sqlalchemy import select

    from orchestrator.schema import Model

    settings = load_settings()
    with storage.session_scope(settings) as db:
        rows = {m.name: m for m in db.scalars(select(Model))}
    for entry in LIGHT:
        row = rows[entry.replica_name]
        assert (row.provenance, row.catalog_name) == ("replica", entry.name)
        assert row.size_bytes == built[entry.name].size_bytes
    assert {p.reason for p in plan_builds(settings, LIGHT)} == {"up to date"}
    again = build_replicas(settings, LIGHT[:2])
    assert [r.built for r in again] == [False, False]
    assert [r.size_bytes for r in again] == [built[e.name].size_bytes for e in LIGHT[:2]]


def test_changed_recipe_triggers_a_rebuild(built: dict[str, BuildResult]) -> None:
    entry = LIGHT[0]
    sidecar = Path(built[entry.name].path).with_suffix(".json")
    sidecar.write_text(sidecar.read_text().replace('"recipe_key": "', '"recipe_key": "old-'))
    assert [p.reason for p in plan_builds(load_settings(), [entry])] == ["recipe changed"]


def test_parallel_results_in_catalog_order(built: dict[str, BuildResult]) -> None:
    assert list(built) == _ids(LIGHT)


def test_one_job_builds_and_registers_what_parallel_jobs_do(
        built: dict[str, BuildResult], other_home: Settings) -> None:
    zoo_home = built[LIGHT[0].name].path.parents[2]  # <home>/models/replicas/<name>.tflite
    parallel = _registered(load_settings({"FARM_HOME": str(zoo_home)}))
    sequential = build_replicas(other_home, SMALL, jobs=1)
    assert [r.entry.name for r in sequential] == _ids(SMALL)
    for result in sequential:
        assert result.built
        assert sha256_file(result.path) == sha256_file(built[result.entry.name].path)
    rows = _registered(other_home)
    assert rows == {e.replica_name: parallel[e.replica_name] for e in SMALL}


def test_a_failed_build_names_its_replica_and_leaves_no_partial_file(other_home: Settings
                                                                     ) -> None:
    good = SMALL[0]
    broken = dataclasses.replace(good, name="broken-recipe", replica=dataclasses.replace(
        good.replica, params={**good.replica.params, "no_such_parameter": 1}))
    with pytest.raises(CatalogError, match=r"building broken-recipe\.tflite\.building failed: "
                                           r"TypeError.*no_such_parameter"):
        build_replicas(other_home, [broken, good], jobs=2)
    # the build in flight finished and was registered; the broken one left nothing behind
    folder = other_home.home_path / "models" / "replicas"
    assert sorted(p.name for p in folder.iterdir()) == [f"{good.name}.json", f"{good.name}.tflite"]
    assert list(_registered(other_home)) == [good.replica_name]
