from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from models.builtin import build_builtin_models
from models.tflite_file import inspect_model
from orchestrator.errors import ModelError


def test_inspect_reads_hash_size_and_tensors(tmp_path: Path) -> None:
    path = build_builtin_models(tmp_path)["builtin-segmenter"]
    info = inspect_model(path)
    data = path.read_bytes()
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size_bytes == len(data)
    assert info.inputs[0].name == "image" and info.inputs[0].dtype == "float32"
    assert info.operator_count == 5


@pytest.mark.parametrize("content, fragment", [
    (b"", "not a TFLite model"),
    (b"PK\x03\x04zipfile....", "not a TFLite model"),
    (b"\x10\x00\x00\x00TFL3" + b"\xff" * 40, "corrupt"),
])
def test_bad_files_are_model_errors(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=fragment) as info:
        inspect_model(path)
    assert info.value.hint


def test_truncated_model_is_a_model_error(tmp_path: Path) -> None:
    good = build_builtin_models(tmp_path)["builtin-stylizer"].read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(good[: len(good) // 3])
    with pytest.raises(ModelError):
        inspect_model(path)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        inspect_model(tmp_path / "nope.tflite")
    with pytest.raises(ModelError, match="directory"):
        inspect_model(tmp_path)
