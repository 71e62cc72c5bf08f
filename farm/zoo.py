"""``farm models add``: register your own .tflite files (the zoo's own are built or pulled by
``models.replicas`` and ``models.pull``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.registry import register_model
from orchestrator.config import Settings
from orchestrator.storage import session_scope

__all__ = ["Registered", "add_models"]


@dataclass(frozen=True)
class Registered:
    name: str
    size_bytes: int
    sha256: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]


def add_models(settings: Settings, paths: list[Path], name: str | None = None) -> list[Registered]:
    """Register every file, in one transaction: a bad file anywhere in the list registers none."""
    with session_scope(settings) as db:
        rows = [register_model(db, path, name=name) for path in paths]
        return [Registered(m.name, m.size_bytes, m.sha256, m.inputs, m.outputs) for m in rows]
