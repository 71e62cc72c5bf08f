"""The public surface is fixed: adding or removing an export is a decision, made here on purpose."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "orchestrator.errors": {
        "FarmError", "ConfigError", "PlanError", "ModelError", "CatalogError", "DeviceError",
        "DeviceNotFound", "DeviceUnavailable", "DeviceLost", "DeviceStorageFull", "ToolError",
        "ParseError", "LogFileError", "NotFound", "StorageError", "LeaseLost", "BrokerError",
        "PreflightError", "ExitCode",
    },
    "orchestrator.results": {
        "ERROR_KINDS", "MEASURE_FIELDS", "PARSED_RUN_SCHEMA_VERSION", "DelegateInfo", "OpRow",
        "ParsedRun", "Provenance", "RunError", "SessionRecord",
    },
    "orchestrator.secrets": {"MASK", "mask_logging", "mask_text", "mask_url", "url_secrets"},
    "orchestrator.schema": {"ALERT_STATES", "Alert", "Base", "Device", "Job", "Model", "Pool", "Run",
                            "Session", "Tool", "utcnow"},
    "workers.tools.benchmark_argv": {"DELEGATES", "SessionSpec", "build_argv", "host_runner_argv"},
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_exports_are_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert set(module.__all__) == PUBLIC[module_name]
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"


def test_every_farm_error_has_a_kind_and_an_exit_code() -> None:
    from orchestrator import errors

    for name in set(errors.__all__) - {"ExitCode"}:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.FarmError)
        assert cls.kind and isinstance(cls.exit_code, int) and cls.exit_code > 0


def test_exit_codes_are_the_documented_contract() -> None:
    from orchestrator.errors import ExitCode, FarmError, PlanError, PreflightError

    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "REGRESSION": 3, "INTERRUPTED": 130}
    assert PreflightError.exit_code == PlanError.exit_code == ExitCode.USAGE
    assert FarmError.exit_code == ExitCode.FAILED
