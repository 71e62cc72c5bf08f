"""Replica metadata written with tflite-support and read back with MetadataDisplayer.

The built-in models have the same tensors as two catalog entries, so they stand in for replicas
here without TensorFlow (the real replicas go through the same code in test_replicas.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.builtin import build_builtin_models
from models.catalog import load_catalog
from models.metadata import normalization_for, read_metadata, write_replica_metadata
from models.tflite_file import inspect_model
from orchestrator.errors import ModelError


@pytest.fixture(scope="module")
def builtins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_builtin_models(tmp_path_factory.mktemp("builtin"))


def test_segmenter_metadata_round_trip(builtins: dict[str, Path], tmp_path: Path) -> None:
    entry = load_catalog().get("deeplabv3-official")
    path = tmp_path / "seg.tflite"
    shutil.copy(builtins["builtin-segmenter"], path)
    assert read_metadata(path) is None
    before = inspect_model(path)
    write_replica_metadata(path, entry, tensorflow="2.21.0")
    meta = read_metadata(path)
    assert meta is not None
    assert meta.name == "deeplabv3-official (random-weight replica)"
    assert "random-weight architecture replica of tensorflow/lite-model/deeplabv3" in (
        meta.description or "").lower()
    assert "segmentation masks are noise" in (meta.description or "")
    assert meta.version == "replica-1" and meta.author and meta.license == "Apache-2.0"
    assert meta.inputs[0]["normalization"] == {"mean": [127.5], "std": [127.5]}
    assert meta.outputs[0]["files"] == ["pascal_voc_21.txt"]
    labels = meta.associated_files["pascal_voc_21.txt"]
    assert len(labels) == 21 and labels[0] == "background" and labels[15] == "person"
    after = inspect_model(path)
    assert after.has_metadata and after.inputs == before.inputs and after.outputs == before.outputs


def test_stylizer_metadata_round_trip(builtins: dict[str, Path], tmp_path: Path) -> None:
    entry = load_catalog().get("magenta-mnv2-transfer-fp16")
    path = tmp_path / "style.tflite"
    shutil.copy(builtins["builtin-stylizer"], path)
    write_replica_metadata(path, entry)
    meta = read_metadata(path)
    assert meta is not None and meta.associated_files == {}
    assert [t["name"] for t in meta.inputs] == ["content_image", "style_bottleneck"]
    assert meta.inputs[0]["normalization"] == {"mean": [0.0], "std": [255.0]}
    assert meta.inputs[1]["normalization"] is None
    assert "float16 quantized" in (meta.description or "")


def test_metadata_for_the_wrong_model_is_refused(builtins: dict[str, Path], tmp_path: Path
                                                 ) -> None:
    path = tmp_path / "seg.tflite"
    shutil.copy(builtins["builtin-segmenter"], path)
    original = path.read_bytes()
    with pytest.raises(ModelError, match="cannot write metadata"):
        # the transfer entry declares two inputs, the segmenter has one
        write_replica_metadata(path, load_catalog().get("magenta-mnv2-transfer-fp16"))
    assert path.read_bytes() == original


@pytest.mark.parametrize(("value_range", "expected"), [
    ((-1.0, 1.0), (127.5, 127.5)), ((0.0, 1.0), (0.0, 255.0)), ((0.0, 255.0), (0.0, 1.0))])
def test_normalization_maps_pixels_onto_the_range(value_range: tuple[float, float],
                                                  expected: tuple[float, float]) -> None:
    entry = load_catalog().get("deeplabv3-official")
    tensor = type(entry.inputs[0])("x", (1, 2, 2, 3), value_range)
    mean, std = normalization_for(tensor)
    assert (mean, std) == expected
    assert ((0 - mean) / std, (255 - mean) / std) == pytest.approx(value_range)
