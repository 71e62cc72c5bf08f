"""Architecture replicas of the catalog's models: planned, built in the converter env, registered.

A replica is the official model's topology, tensor shapes and post-training quantization recipe
with random weights (``models/converter``), populated with metadata that says so
(``models.metadata``), checked against the catalog's shapes and registered with provenance
``replica`` under ``<entry>-replica``. Replicas live in ``FARM_HOME/models/replicas`` beside a JSON
sidecar holding the recipe key they were built from: a replica is rebuilt only when its recipe (the
catalog entry, the converter code or its pinned requirements) changed, or on ``force``. Replicas
build in parallel, one long-lived converter process per job.

The size rule: the file size of a replica must be within ``SIZE_TOLERANCE`` of the reference
project's file; parameter counts decide size, so a larger deviation means the architecture is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import converter
from models.catalog import CatalogEntry
from models.converter import venv
from models.metadata import VERSION as METADATA_VERSION
from models.metadata import write_replica_metadata
from models.registry import register_model
from models.tflite_file import inspect_model
from orchestrator.config import Settings
from orchestrator.errors import CatalogError, FarmError
from orchestrator.storage import session_scope

__all__ = [
    "SIZE_TOLERANCE",
    "BuildPlan",
    "BuildResult",
    "build_replicas",
    "plan_builds",
    "recipe_key",
    "replica_path",
    "size_deviation",
]

SIZE_TOLERANCE = 0.15
_INSIDE = Path(converter.__file__).resolve().parent / "inside"
#: progress(entry name, phase), always on the calling thread: "up to date" (every cached replica,
#: first), then "environment" and "ready" (name "converter"; the first run installs TensorFlow),
#: then "building" and "done" per replica, several building at once with more than one job
BuildProgress = Callable[[str, str], None]


def replica_path(settings: Settings, entry: CatalogEntry) -> Path:
    return settings.home_path / "models" / "replicas" / f"{entry.name}.tflite"


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def recipe_key(entry: CatalogEntry) -> str:
    """Everything a replica's bytes depend on, hashed."""
    digest = hashlib.sha256(json.dumps({
        "replica": entry.replica.to_json(),
        "inputs": [t.to_json() for t in entry.inputs],
        "quantization": entry.quantization,
        "labels": entry.labels,
        "metadata": METADATA_VERSION,
        "env": venv.env_key(),
    }, sort_keys=True).encode())
    for source in sorted(_INSIDE.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:20]


def size_deviation(size_bytes: int, reference_bytes: int | None) -> float | None:
    """Relative deviation from the reference size (0.05 = 5% larger), None without a reference."""
    if not reference_bytes:
        return None
    return (size_bytes - reference_bytes) / reference_bytes


@dataclass(frozen=True)
class BuildPlan:
    entry: CatalogEntry
    path: Path
    reason: str  # "missing", "recipe changed", "forced", "up to date"

    @property
    def needed(self) -> bool:
        return self.reason != "up to date"


@dataclass(frozen=True)
class BuildResult:
    entry: CatalogEntry
    path: Path
    size_bytes: int
    built: bool  # False: the cached replica was up to date
    params: int | None
    seconds: float | None

    @property
    def deviation(self) -> float | None:
        return size_deviation(self.size_bytes, self.entry.reference_size_bytes)

    @property
    def within_tolerance(self) -> bool | None:
        deviation = self.deviation
        return None if deviation is None else abs(deviation) <= SIZE_TOLERANCE


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def plan_builds(settings: Settings, entries: Iterable[CatalogEntry], *, force: bool = False
                ) -> list[BuildPlan]:
    plans = []
    for entry in entries:
        path = replica_path(settings, entry)
        if force:
            reason = "forced"
        elif not path.is_file():
            reason = "missing"
        elif _read_sidecar(path).get("recipe_key") != recipe_key(entry):
            reason = "recipe changed"
        else:
            reason = "up to date"
        plans.append(BuildPlan(entry, path, reason))
    return plans


def _check_shapes(entry: CatalogEntry, path: Path) -> None:
    info = inspect_model(path)
    for kind, expected, actual in (("input", entry.inputs, info.inputs),
                                   ("output", entry.outputs, info.outputs)):
        want = [t.shape for t in expected]
        got = [t.shape for t in actual]
        if want != got:
            raise CatalogError(f"replica {entry.name}: {kind} shapes {got}, the catalog says {want}",
                               hint="this is a bug in the replica recipe")


def _staging(plan: BuildPlan) -> Path:
    return plan.path.with_name(plan.path.name + ".building")


def _request(plan: BuildPlan) -> dict[str, Any]:
    entry = plan.entry
    return {"arch": entry.replica.arch, "params": dict(entry.replica.params),
            "inputs": [t.to_json() for t in entry.inputs], "quantization": entry.quantization,
            "output": str(_staging(plan))}


def _finish(plan: BuildPlan, response: dict[str, Any]) -> None:
    """Metadata, shape check, then the rename: a replica is in place whole or not at all."""
    entry, staging = plan.entry, _staging(plan)
    try:
        write_replica_metadata(staging, entry, tensorflow=response.get("tensorflow"))
        _check_shapes(entry, staging)
        staging.replace(plan.path)
    finally:
        staging.unlink(missing_ok=True)
    sidecar = {"recipe_key": recipe_key(entry), "converter": response,
               "size_bytes": plan.path.stat().st_size}
    _sidecar(plan.path).write_text(json.dumps(sidecar, indent=2), encoding="utf-8")


def _build(python: Path, plans: list[BuildPlan], jobs: int, progress: BuildProgress | None
           ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Build ``plans`` on ``jobs`` converters; yield (index in plans, response) as each finishes.

    Only the converter calls run on the pool's threads; files and ``progress`` stay on the calling
    thread. After a failure nothing new starts, the builds in flight finish (and are yielded), then
    the first failure in catalog order is raised.
    """
    waiting = deque(enumerate(plans))
    failures: list[tuple[int, FarmError]] = []
    running: dict[Future[dict[str, Any]], tuple[int, converter.Converter]] = {}
    try:
        with ThreadPoolExecutor(jobs, thread_name_prefix="replica") as pool, ExitStack() as stack:
            # inner context: on an error or Ctrl-C the converters are killed before the pool waits
            idle = [stack.enter_context(converter.Converter(python)) for _ in range(jobs)]

            def start() -> None:
                while waiting and idle and not failures:
                    index, plan = waiting.popleft()
                    plan.path.parent.mkdir(parents=True, exist_ok=True)
                    worker = idle.pop()
                    running[pool.submit(worker.build, _request(plan))] = (index, worker)
                    if progress:
                        progress(plan.entry.name, "building")

            start()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    index, worker = running.pop(future)
                    idle.append(worker)
                    try:
                        response = future.result()
                    except FarmError as exc:
                        _staging(plans[index]).unlink(missing_ok=True)  # a killed converter's leftovers
                        failures.append((index, exc))
                        continue
                    start()  # keep the converter busy while this replica is finished here
                    try:
                        _finish(plans[index], response)
                    except FarmError as exc:
                        failures.append((index, exc))
                        continue
                    yield index, response
    finally:
        for index, _ in running.values():  # interrupted: a killed converter may leave half a file
            _staging(plans[index]).unlink(missing_ok=True)
    if failures:
        raise min(failures, key=lambda failure: failure[0])[1]


def _register(settings: Settings, plan: BuildPlan, response: dict[str, Any]) -> BuildResult:
    entry = plan.entry
    with session_scope(settings) as db:
        register_model(db, plan.path, name=entry.replica_name, provenance="replica",
                       catalog_name=entry.name,
                       metadata={"recipe_key": recipe_key(entry),
                                 "tensorflow": response.get("tensorflow"),
                                 "params": response.get("params"),
                                 "reference_size_bytes": entry.reference_size_bytes})
    seconds = (response.get("build_seconds", 0) + response.get("convert_seconds", 0)
               if response else None)
    return BuildResult(entry, plan.path, plan.path.stat().st_size, plan.needed,
                       response.get("params"), seconds)


def build_replicas(settings: Settings, entries: Iterable[CatalogEntry], *, force: bool = False,
                   jobs: int | None = None, progress: BuildProgress | None = None,
                   on_env_line: Callable[[str], None] | None = None) -> list[BuildResult]:
    """Build (or reuse) each entry's replica and register it; results in catalog order.

    Up to ``jobs`` replicas (default: one per CPU) build at once, each job one converter process
    serving build after build. Registration happens on the calling thread as each replica is done,
    so replicas finished before a failure stay registered.
    """
    jobs = max(os.cpu_count() or 1, 1) if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    plans = plan_builds(settings, entries, force=force)
    results: dict[int, BuildResult] = {}
    for index, plan in enumerate(plans):
        if not plan.needed:
            results[index] = _register(settings, plan,
                                       _read_sidecar(plan.path).get("converter", {}))
            if progress:
                progress(plan.entry.name, "up to date")
    todo = [(index, plan) for index, plan in enumerate(plans) if plan.needed]
    if todo:
        if progress:
            progress("converter", "environment")
        python = venv.ensure_env(on_line=on_env_line)
        if progress:
            progress("converter", "ready")
        needed = [plan for _, plan in todo]
        for position, response in _build(python, needed, min(jobs, len(needed)), progress):
            index, plan = todo[position]
            results[index] = _register(settings, plan, response)
            if progress:
                progress(plan.entry.name, "done")
    return [results[index] for index in range(len(plans))]
