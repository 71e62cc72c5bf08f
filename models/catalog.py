"""The model zoo's catalog: ``catalog.toml`` read and validated into frozen dataclasses.

The TOML is data only; this module is the one place that knows its schema (documented at the top of
``catalog.toml``). Anything wrong in it raises ``CatalogError`` naming the entry and the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from orchestrator.errors import CatalogError

__all__ = [
    "CATALOG_PATH",
    "LABELS_DIR",
    "QUANTIZATIONS",
    "TASKS",
    "Catalog",
    "CatalogEntry",
    "OfficialSource",
    "ReplicaRecipe",
    "TensorDecl",
    "load_catalog",
]

CATALOG_PATH = Path(__file__).resolve().parent / "catalog.toml"
LABELS_DIR = Path(__file__).resolve().parent / "labels"
QUANTIZATIONS = ("float32", "dynamic_range", "float16", "int8")
TASKS = ("segmentation", "style_prediction", "style_transfer")
_TFHUB_LITE = "https://tfhub.dev/{handle}?lite-format=tflite"
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_KEYS = {"name", "task", "backbone", "dataset", "labels", "quantization",
               "reference_size_bytes", "reference_size_exact", "heavy", "inputs", "outputs",
               "official", "replica"}
_REQUIRED = ("name", "task", "backbone", "dataset", "quantization", "inputs", "outputs",
             "official", "replica")


@dataclass(frozen=True)
class TensorDecl:
    name: str
    shape: tuple[int, ...]
    #: the value range the model expects (its normalisation); int8 calibration draws from it
    value_range: tuple[float, float] = (0.0, 1.0)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "range": list(self.value_range)}


@dataclass(frozen=True)
class OfficialSource:
    handle: str
    url: str
    sha256: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class ReplicaRecipe:
    arch: str
    params: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"arch": self.arch, "params": dict(self.params)}


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    task: str
    backbone: str
    dataset: str
    quantization: str
    inputs: tuple[TensorDecl, ...]
    outputs: tuple[TensorDecl, ...]
    official: OfficialSource
    replica: ReplicaRecipe
    labels: str | None = None
    reference_size_bytes: int | None = None
    reference_size_exact: bool = True
    heavy: bool = False

    @property
    def labels_path(self) -> Path | None:
        return LABELS_DIR / f"{self.labels}.txt" if self.labels else None

    @property
    def replica_name(self) -> str:
        """The name a replica is registered under (the official file takes the entry's name)."""
        return f"{self.name}-replica"


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def get(self, name: str) -> CatalogEntry:
        for entry in self.entries:
            if name in (entry.name, entry.replica_name):
                return entry
        raise CatalogError(f"no catalog entry named {name!r}",
                           hint="`farm models list` shows the catalog's names")

    def select(self, names: Iterable[str] = ("all",), *, include_heavy: bool = True
               ) -> list[CatalogEntry]:
        """Entries for a user's list of names; ``all`` (or nothing) means the whole catalog."""
        wanted = list(names) or ["all"]
        if "all" in wanted:
            return [e for e in self.entries if include_heavy or not e.heavy]
        return [self.get(name) for name in dict.fromkeys(wanted)]


def _fail(where: str, problem: str) -> CatalogError:
    return CatalogError(f"catalog {where}: {problem}",
                        hint="fix models/catalog.toml (its header documents every field)")


def _tensor(where: str, raw: Any, *, with_range: bool) -> TensorDecl:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise _fail(where, "a tensor needs a name and a shape")
    shape = raw.get("shape")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(d, int) and d > 0 for d in shape)):
        raise _fail(where, f"tensor {raw['name']!r} has shape {shape!r}, not positive integers")
    value_range = raw.get("range", [0.0, 1.0])
    if (not isinstance(value_range, list) or len(value_range) != 2
            or not value_range[0] < value_range[1]):
        raise _fail(where, f"tensor {raw['name']!r} has range {value_range!r}, not [low, high]")
    return TensorDecl(raw["name"], tuple(shape),
                      (float(value_range[0]), float(value_range[1])) if with_range else (0.0, 1.0))


def _official(where: str, raw: Any) -> OfficialSource:
    if not isinstance(raw, dict) or not isinstance(raw.get("handle"), str):
        raise _fail(where, "official needs a handle")
    sha = raw.get("sha256")
    if sha is not None and not _SHA256.match(str(sha)):
        raise _fail(where, f"official.sha256 {sha!r} is not 64 lowercase hex digits")
    size = raw.get("size_bytes")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise _fail(where, f"official.size_bytes {size!r} is not a positive integer")
    url = raw.get("url") or _TFHUB_LITE.format(handle=raw["handle"])
    if not url.startswith(("https://", "http://")):
        raise _fail(where, f"official.url {url!r} is not an http(s) URL")
    return OfficialSource(raw["handle"], url, sha, size)


def _entry(index: int, raw: Any) -> CatalogEntry:
    where = f"entry #{index + 1}"
    if not isinstance(raw, dict):
        raise _fail(where, "is not a table")
    where = f"entry {raw.get('name', f'#{index + 1}')!r}"
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(unknown)}")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise _fail(where, f"missing field(s) {', '.join(missing)}")
    if not _NAME.match(str(raw["name"])):
        raise _fail(where, "name must be lowercase letters, digits, '-' and '.'")
    if raw["task"] not in TASKS:
        raise _fail(where, f"task {raw['task']!r} is not one of {', '.join(TASKS)}")
    if raw["quantization"] not in QUANTIZATIONS:
        raise _fail(where, f"quantization {raw['quantization']!r} is not one of "
                           f"{', '.join(QUANTIZATIONS)}")
    size = raw.get("reference_size_bytes")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise _fail(where, f"reference_size_bytes {size!r} is not a positive integer")
    replica = raw["replica"]
    if not isinstance(replica, dict) or not isinstance(replica.get("arch"), str):
        raise _fail(where, "replica needs an arch")
    entry = CatalogEntry(
        name=raw["name"], task=raw["task"], backbone=raw["backbone"], dataset=raw["dataset"],
        quantization=raw["quantization"],
        inputs=tuple(_tensor(where, t, with_range=True) for t in raw["inputs"]),
        outputs=tuple(_tensor(where, t, with_range=False) for t in raw["outputs"]),
        official=_official(where, raw["official"]),
        replica=ReplicaRecipe(replica["arch"], MappingProxyType(dict(replica.get("params", {})))),
        labels=raw.get("labels"), reference_size_bytes=size,
        reference_size_exact=bool(raw.get("reference_size_exact", True)),
        heavy=bool(raw.get("heavy", False)),
    )
    if entry.task == "segmentation":
        _check_labels(where, entry)
    return entry


def _check_labels(where: str, entry: CatalogEntry) -> None:
    path = entry.labels_path
    if path is None or not path.is_file():
        raise _fail(where, f"segmentation needs a label file; {path} does not exist")
    count = len(path.read_text(encoding="utf-8").splitlines())
    classes = entry.outputs[0].shape[-1]
    if count != classes:
        raise _fail(where, f"{path.name} has {count} labels, the output has {classes} classes")


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"cannot read the catalog {path}: {exc}",
                           hint="restore models/catalog.toml from the repository") from exc
    if data.get("schema") != 1:
        raise _fail(str(path), f"schema {data.get('schema')!r}, this farm reads schema 1")
    entries = tuple(_entry(i, raw) for i, raw in enumerate(data.get("model", [])))
    seen: set[str] = set()
    for entry in entries:
        for name in (entry.name, entry.replica_name):
            if name in seen:
                raise _fail(f"entry {entry.name!r}", f"the name {name!r} is used twice")
            seen.add(name)
    return Catalog(entries)
