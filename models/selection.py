"""What ``farm submit --models all`` benchmarks.

Per catalog entry: the official file when it is present, else the replica, else a line in
``missing`` saying which command gets it. Built-in, user-added and imported models stay in (those
whose file is gone are reported in ``missing`` too). Each line of ``missing`` tells the user how to
fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.catalog import Catalog, load_catalog
from orchestrator.errors import PlanError
from orchestrator.planning import models_by_name
from orchestrator.schema import Model

__all__ = ["Selection", "resolve_models", "select_all"]

_PREFERENCE = ("official", "replica")


@dataclass
class Selection:
    models: list[Model]
    missing: list[str] = field(default_factory=list)


def select_all(db: Session, catalog: Catalog | None = None) -> Selection:
    catalog = load_catalog() if catalog is None else catalog
    rows = list(db.scalars(select(Model).order_by(Model.name)))
    on_disk = [m for m in rows if Path(m.path).is_file()]
    selection = Selection(models=[])
    zoo_names = set(catalog.names())
    for entry in catalog.entries:
        candidates = {m.provenance: m for m in on_disk
                      if m.catalog_name == entry.name and m.provenance in _PREFERENCE}
        chosen = next((candidates[p] for p in _PREFERENCE if p in candidates), None)
        if chosen is not None:
            selection.models.append(chosen)
        else:
            selection.missing.append(
                f"{entry.name}: neither the official file nor a replica is here; "
                f"build the replica offline with `farm models build {entry.name}` or download "
                f"the official file with `farm models pull {entry.name}`")
    for model in rows:
        if model.catalog_name in zoo_names and model.provenance in _PREFERENCE:
            continue
        if model in on_disk:
            selection.models.append(model)
        else:
            selection.missing.append(
                f"{model.name}: its file {model.path} is gone; "
                f"register it again with `farm models add PATH`")
    return selection


def resolve_models(db: Session, names: Sequence[str]) -> tuple[list[Model], list[str]]:
    """Models by name (or ``all``), plus notes on what ``all`` could not include."""
    if tuple(names) != ("all",):
        return models_by_name(db, names), []
    selection = select_all(db)
    if not selection.models:
        raise PlanError("no models are available", hint="register one with `farm models add PATH`")
    return selection.models, selection.missing
