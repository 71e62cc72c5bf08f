"""The converter subprocess and its protocol, run for real: a failed request is reported with its
cause and the process serves the next one; a converter that dies or hangs is reported, not awaited.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from models.converter import Converter, venv
from orchestrator.errors import CatalogError


def _tiny(output: Path) -> dict[str, Any]:
    """Magenta's style transfer network at 64x64: a real build in about a second."""
    return {"arch": "style_transfer", "params": {"alpha": 0.25},
            "inputs": [{"name": "content_image", "shape": [1, 64, 64, 3], "range": [0.0, 1.0]},
                       {"name": "style_bottleneck", "shape": [1, 1, 1, 100],
                        "range": [-1.0, 1.0]}],
            "quantization": "float16", "output": str(output)}


@pytest.mark.slow
def test_failed_requests_are_reported_and_the_converter_goes_on(tmp_path: Path) -> None:
    with Converter(venv.ensure_env()) as converter:
        with pytest.raises(CatalogError, match=r"building broken\.tflite failed: KeyError") as bad:
            converter.build({**_tiny(tmp_path / "broken.tflite"), "arch": "no_such_arch"})
        assert "Traceback" in str(bad.value)  # the converter's own traceback, for the bug report
        with pytest.raises(CatalogError, match="protocol 1, this builder speaks 2"):
            converter.build({**_tiny(tmp_path / "old.tflite"), "protocol": 1})
        response = converter.build(_tiny(tmp_path / "tiny.tflite"))
    assert response["ok"] and response["output_shapes"] == [[1, 64, 64, 3]]
    assert (tmp_path / "tiny.tflite").stat().st_size == response["size_bytes"]
    assert not (tmp_path / "broken.tflite").exists() and not (tmp_path / "old.tflite").exists()


@pytest.mark.slow
def test_a_build_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    # importing TensorFlow alone takes longer than the timeout
    with (Converter(venv.ensure_env(), timeout_s=0.2) as converter,
          pytest.raises(CatalogError, match=r"took more than 0 s and was stopped")):
        converter.build(_tiny(tmp_path / "tiny.tflite"))


def test_a_converter_without_tensorflow_dies_with_its_log(tmp_path: Path) -> None:
    # the farm's own python has no TensorFlow: build.py dies importing it, before any response
    with (Converter(Path(sys.executable)) as converter,
          pytest.raises(CatalogError, match="the converter died") as dead):
        converter.build(_tiny(tmp_path / "tiny.tflite"))
    assert "ModuleNotFoundError" in str(dead.value)


def test_a_missing_python_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot start the converter"):
        Converter(tmp_path / "no-such-env" / "bin" / "python")
