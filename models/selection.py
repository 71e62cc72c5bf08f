"""What ``farm submit --models all`` benchmarks.

Every registered model whose file is still on disk. ``missing`` lists what ``all`` would have
included but cannot, each line saying how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.schema import Model

__all__ = ["Selection", "select_all"]


@dataclass
class Selection:
    models: list[Model]
    missing: list[str] = field(default_factory=list)


def select_all(db: Session) -> Selection:
    selection = Selection(models=[])
    for model in db.scalars(select(Model).order_by(Model.name)):
        if Path(model.path).is_file():
            selection.models.append(model)
        else:
            selection.missing.append(
                f"{model.name}: its file {model.path} is gone; "
                f"register it again with `farm models add PATH`"
            )
    return selection
