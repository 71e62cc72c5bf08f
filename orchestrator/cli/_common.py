"""Shared bits of the CLI modules: settings, consoles, formatting helpers."""

from __future__ import annotations

from rich.console import Console

from orchestrator.config import Settings, load_settings

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def settings() -> Settings:
    return load_settings()


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
