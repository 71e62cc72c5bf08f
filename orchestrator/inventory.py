"""What the farm has: device rows and the built-in models, registered on first use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.config import Settings
from orchestrator.schema import Device, Model, utcnow

__all__ = ["ensure_builtin_models", "ensure_local_device", "upsert_device"]


def upsert_device(db: Session, fields: dict[str, Any]) -> Device:
    device = db.scalars(select(Device).where(Device.serial == fields["serial"])).one_or_none()
    if device is None:
        device = Device(serial=fields["serial"])
        db.add(device)
    for key, value in fields.items():
        setattr(device, key, value)
    device.last_seen = utcnow()
    db.flush()
    return device


def ensure_local_device(db: Session) -> Device:
    from workers.device.local import describe_local

    return upsert_device(db, describe_local())


def ensure_builtin_models(db: Session, settings: Settings) -> list[Model]:
    """Generate the built-in models under FARM_HOME/models/builtin and register them."""
    from models.builtin import build_builtin_models
    from orchestrator.storage import register_model

    folder = settings.home_path / "models" / "builtin"
    return [register_model(db, path, name=name, provenance="builtin")
            for name, path in build_builtin_models(folder).items()]
