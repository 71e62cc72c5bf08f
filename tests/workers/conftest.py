"""Fixtures for the worker tests: a real adb server and virtual phones connected to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.adb import AdbServer
from tests.support.virtual_phones import ConnectedPhone, connected_phone


@pytest.fixture(scope="session")
def vphone_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vphones")


@pytest.fixture
def phone_factory(adb: AdbServer, vphone_runtime: Path
                  ) -> Iterator[Callable[..., ConnectedPhone]]:
    """``phone_factory(profile=..., faults=..., expect_state=...)``: phones stopped after the test."""
    with ExitStack() as stack:
        def make(**kwargs: object) -> ConnectedPhone:
            return stack.enter_context(connected_phone(adb, vphone_runtime, **kwargs))  # type: ignore[arg-type]
        yield make


@pytest.fixture
def phone(phone_factory: Callable[..., ConnectedPhone]) -> ConnectedPhone:
    """A connected Pixel-class virtual phone, fresh for the test."""
    return phone_factory()
