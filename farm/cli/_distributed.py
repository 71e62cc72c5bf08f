"""What the distributed mode's commands share: refusing to run without a broker, and logging
(with every credential of the configuration masked)."""

from __future__ import annotations

import logging

from orchestrator.config import Settings, load_settings
from orchestrator.errors import ConfigError
from orchestrator.secrets import mask_logging

__all__ = ["distributed_settings", "log_to_stderr"]


def distributed_settings() -> Settings:
    current = load_settings()
    if current.is_embedded:
        raise ConfigError("no broker is configured: this command belongs to the distributed mode",
                          hint="set FARM_BROKER_URL (e.g. redis://HOST:6379/0) and "
                               "FARM_DATABASE_URL (postgresql+psycopg://...)")
    return current


def log_to_stderr(settings: Settings) -> None:
    mask_logging(settings.credentials)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
