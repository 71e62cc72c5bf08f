"""Architecture replicas of the catalog's models: planned, built in the converter env, registered.

A replica is the official model's topology, tensor shapes and post-training quantization recipe
with random weights (``models/converter``), populated with metadata that says so
(``models.metadata``), checked against the catalog's shapes and registered with provenance
``replica`` under ``<entry>-replica``. Replicas live in ``FARM_HOME/models/replicas`` beside a JSON
sidecar holding the recipe key they were built from: a replica is rebuilt only when its recipe (the
catalog entry, the converter code or its pinned requirements) changed, or on ``force``.

The size rule: the file size of a replica must be within ``SIZE_TOLERANCE`` of the reference
project's file; parameter counts decide size, so a larger deviation means the architecture is wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
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
from orchestrator.errors import CatalogError
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
#: progress(entry name, phase): phases "environment", "building", "done", "up to date"
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


def _build_one(python: Path, plan: BuildPlan) -> dict[str, Any]:
    entry = plan.entry
    staging = plan.path.with_name(plan.path.name + ".building")
    response = converter.run_converter(python, {
        "arch": entry.replica.arch,
        "params": dict(entry.replica.params),
        "inputs": [t.to_json() for t in entry.inputs],
        "quantization": entry.quantization,
        "output": str(staging),
    })
    try:
        write_replica_metadata(staging, entry, tensorflow=response.get("tensorflow"))
        _check_shapes(entry, staging)
        staging.replace(plan.path)
    finally:
        staging.unlink(missing_ok=True)
    sidecar = {"recipe_key": recipe_key(entry), "converter": response,
               "size_bytes": plan.path.stat().st_size}
    _sidecar(plan.path).write_text(json.dumps(sidecar, indent=2), encoding="utf-8")
    return response


def build_replicas(settings: Settings, entries: Iterable[CatalogEntry], *, force: bool = False,
                   progress: BuildProgress | None = None,
                   on_env_line: Callable[[str], None] | None = None) -> list[BuildResult]:
    """Build (or reuse) each entry's replica and register it; results in catalog order."""
    plans = plan_builds(settings, entries, force=force)
    python = None
    if any(plan.needed for plan in plans):
        if progress:
            progress("converter", "environment")
        python = venv.ensure_env(on_line=on_env_line)
    results = []
    for plan in plans:
        entry = plan.entry
        response: dict[str, Any] = _read_sidecar(plan.path).get("converter", {})
        if plan.needed:
            assert python is not None
            plan.path.parent.mkdir(parents=True, exist_ok=True)
            if progress:
                progress(entry.name, "building")
            response = _build_one(python, plan)
        seconds = (response.get("build_seconds", 0) + response.get("convert_seconds", 0)
                   if response else None)
        with session_scope(settings) as db:
            register_model(db, plan.path, name=entry.replica_name, provenance="replica",
                           catalog_name=entry.name,
                           metadata={"recipe_key": recipe_key(entry),
                                     "tensorflow": response.get("tensorflow"),
                                     "params": response.get("params"),
                                     "reference_size_bytes": entry.reference_size_bytes})
        results.append(BuildResult(entry, plan.path, plan.path.stat().st_size, plan.needed,
                                   response.get("params"), seconds))
        if progress:
            progress(entry.name, "done" if plan.needed else "up to date")
    return results
