"""What the zoo holds on this machine: ``farm models list`` and ``farm models show``.

Both read the database (what is registered, with its provenance) and the catalog (what could be
there); ``show`` reads the file's tensors and its TFLite metadata back with tflite-support.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from models.catalog import Catalog, CatalogEntry, load_catalog
from models.metadata import ModelMetadata, read_metadata
from models.tflite_file import ModelFileInfo, inspect_model
from orchestrator.config import Settings
from orchestrator.errors import CatalogError
from orchestrator.schema import Model
from orchestrator.storage import session_scope

__all__ = ["ModelDetails", "ZooRow", "list_models", "show_model"]


@dataclass(frozen=True)
class ZooRow:
    name: str
    provenance: str  # builtin | user | replica | official | imported | "-" (not here)
    size_bytes: int | None
    catalog_name: str | None
    reference_size_bytes: int | None
    available: bool
    how_to_get: str | None = None


@dataclass(frozen=True)
class ModelDetails:
    name: str
    provenance: str
    path: Path
    sha256: str
    catalog: CatalogEntry | None
    file: ModelFileInfo
    metadata: ModelMetadata | None


def _rows(settings: Settings) -> list[Model]:
    with session_scope(settings) as db:
        return list(db.scalars(select(Model).order_by(Model.name)))


def list_models(settings: Settings, catalog: Catalog | None = None) -> list[ZooRow]:
    """Catalog entries (available or not), then every other registered model."""
    catalog = load_catalog() if catalog is None else catalog
    models = _rows(settings)
    rows: list[ZooRow] = []
    for entry in catalog.entries:
        here = [m for m in models if m.catalog_name == entry.name]
        for model in here:
            rows.append(ZooRow(model.name, model.provenance, model.size_bytes, entry.name,
                               entry.reference_size_bytes, Path(model.path).is_file()))
        if not here:
            rows.append(ZooRow(entry.name, "-", None, entry.name, entry.reference_size_bytes,
                               False, f"farm models build {entry.name}  |  "
                                      f"farm models pull {entry.name}"))
    known = set(catalog.names())
    rows += [ZooRow(m.name, m.provenance, m.size_bytes, m.catalog_name, None,
                    Path(m.path).is_file()) for m in models if m.catalog_name not in known]
    return rows


def show_model(settings: Settings, name: str, catalog: Catalog | None = None) -> ModelDetails:
    """A registered model by name; a catalog entry's name shows its official file, else replica."""
    catalog = load_catalog() if catalog is None else catalog
    models = _rows(settings)
    model = next((m for m in models if m.name == name), None)
    if model is None:
        for provenance in ("official", "replica"):
            model = next((m for m in models
                          if m.catalog_name == name and m.provenance == provenance), None)
            if model is not None:
                break
    if model is None:
        hint = "`farm models list` shows what is here"
        if name in catalog.names():
            hint = f"get it with `farm models build {name}` or `farm models pull {name}`"
        raise CatalogError(f"no model named {name!r} is registered", hint=hint)
    entry = next((e for e in catalog.entries if e.name == model.catalog_name), None)
    path = Path(model.path)
    return ModelDetails(model.name, model.provenance, path, model.sha256, entry,
                        inspect_model(path), read_metadata(path))
