"""Registering a model file: its identity (sha256, size, tensors) read from the file, one row per
name.

Every way a model arrives goes through ``register_model``: ``farm models add``, the built-ins, the
zoo's replicas and official downloads, ``farm import-log`` given a path.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.tflite_file import inspect_model
from orchestrator.schema import Model

__all__ = ["register_model"]


def register_model(
    db: Session,
    path: Path | str,
    *,
    name: str | None = None,
    provenance: str = "user",
    catalog_name: str | None = None,
    metadata: dict[str, object] | None = None,
) -> Model:
    """Register a .tflite file (idempotent by name + sha256). Raises ``ModelError`` for a bad file.

    Re-registering a name with a different file updates the row to the new file: a name means
    "the current build of this model", and every session keeps the sha256 it actually measured.
    """
    info = inspect_model(path)
    name = name or info.path.stem
    model = db.scalars(select(Model).where(Model.name == name)).one_or_none()
    if model is None:
        model = Model(name=name)
        db.add(model)
    model.sha256 = info.sha256
    model.size_bytes = info.size_bytes
    model.path = str(info.path.resolve())
    model.provenance = provenance
    model.catalog_name = catalog_name
    model.inputs = [t.to_json() for t in info.inputs]
    model.outputs = [t.to_json() for t in info.outputs]
    model.model_metadata = dict(metadata or {}) | {"has_tflite_metadata": info.has_metadata}
    db.flush()
    return model
