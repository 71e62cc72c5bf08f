"""TFLite metadata for zoo models: written and read back with tflite-support.

``write_replica_metadata`` populates a built replica with what the official files carry (name,
description, version, author, input normalisation, label file for segmentation) and says plainly
that the weights are random. ``read_metadata`` reads any model's metadata back (replica, official or
user-added) with ``MetadataDisplayer``; a model without metadata reads as ``None``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tensorflow_lite_support.metadata.python.metadata_writers import metadata_writer as _writer
from tflite_support import metadata as _metadata
from tflite_support import metadata_schema_py_generated as _fb
from tflite_support import schema_py_generated as _schema
from tflite_support.metadata_writers import image_segmenter, metadata_info, writer_utils

from models.catalog import CatalogEntry, TensorDecl
from orchestrator.errors import ModelError

__all__ = ["ModelMetadata", "normalization_for", "read_metadata", "write_replica_metadata"]

AUTHOR = "tflite-farm model zoo"
VERSION = "replica-1"
_QUANTIZATION_WORDS = {"float32": "float32", "dynamic_range": "dynamic-range quantized",
                       "float16": "float16 quantized", "int8": "int8 quantized (float I/O)"}
_OUTPUT_MEANING = {
    "segmentation": "its segmentation masks are noise, not objects",
    "style_prediction": "its style bottleneck does not describe the style image",
    "style_transfer": "its stylized image does not resemble the content or the style",
}


def normalization_for(tensor: TensorDecl) -> tuple[float, float]:
    """(mean, std) that map 0..255 pixels onto the tensor's value range: (pixel - mean) / std."""
    low, high = tensor.value_range
    std = 255.0 / (high - low)
    return 0.0 - low * std, std  # 0.0 - ...: a mean of -0.0 would print as such


def describe_replica(entry: CatalogEntry, tensorflow: str | None = None) -> str:
    made = f" and converted with TensorFlow {tensorflow}" if tensorflow else ""
    return (
        f"Random-weight architecture replica of {entry.official.handle} "
        f"({entry.backbone}, {entry.dataset}, {_QUANTIZATION_WORDS[entry.quantization]}), "
        f"built by tflite-farm{made}. It has the official model's topology, tensor shapes and "
        f"post-training quantization recipe, but its weights are random, untrained: "
        f"{_OUTPUT_MEANING[entry.task]}. Use it to measure latency, memory and delegate "
        f"coverage, never accuracy."
    )


def _image_md(tensor: TensorDecl, description: str) -> metadata_info.InputImageTensorMd:
    mean, std = normalization_for(tensor)
    return metadata_info.InputImageTensorMd(
        name=tensor.name, description=description, norm_mean=[mean], norm_std=[std],
        color_space_type=_fb.ColorSpaceType.RGB, tensor_type=_schema.TensorType.FLOAT32)


def _writer_for(entry: CatalogEntry, buffer: bytearray, general: metadata_info.GeneralMd
                ) -> Any:
    if entry.task == "segmentation":
        assert entry.labels_path is not None  # the catalog guarantees it for segmentation
        output = metadata_info.TensorMd(
            name="segmentation_masks",
            description=f"{entry.outputs[0].shape[-1]} per-class logits per pixel",
            associated_files=[metadata_info.LabelFileMd(str(entry.labels_path))])
        return image_segmenter.MetadataWriter.create_from_metadata_info(
            buffer, general_md=general,
            input_md=_image_md(entry.inputs[0], "Input image to segment"), output_md=output)
    if entry.task == "style_prediction":
        inputs: list[Any] = [_image_md(entry.inputs[0], "Style image")]
        outputs = [metadata_info.TensorMd(name="style_bottleneck",
                                          description="Style bottleneck vector")]
    else:
        inputs = [_image_md(entry.inputs[0], "Content image to stylize"),
                  metadata_info.TensorMd(name="style_bottleneck",
                                         description="Style bottleneck from the style predictor")]
        outputs = [metadata_info.TensorMd(name="stylized_image",
                                          description="Stylized image, RGB values in [0, 1]")]
    return _writer.MetadataWriter.create_from_metadata_info(
        buffer, general_md=general, input_md=inputs, output_md=outputs)


def write_replica_metadata(path: Path, entry: CatalogEntry, *, tensorflow: str | None = None
                           ) -> None:
    """Populate ``path`` (a freshly converted replica) with metadata, in place and atomically."""
    general = metadata_info.GeneralMd(
        name=f"{entry.name} (random-weight replica)", version=VERSION,
        description=describe_replica(entry, tensorflow), author=AUTHOR,
        licenses="Apache-2.0")
    buffer = writer_utils.load_file(str(path))
    try:
        populated = _writer_for(entry, buffer, general).populate()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot write metadata into {path}: {exc}",
                         hint="the replica does not match its catalog entry; rebuild it") from exc
    tmp = path.with_name(path.name + ".meta-tmp")
    tmp.write_bytes(populated)
    tmp.replace(path)


@dataclass(frozen=True)
class ModelMetadata:
    """A model's TFLite metadata as tflite-support reads it back."""

    name: str | None
    description: str | None
    version: str | None
    author: str | None
    license: str | None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    #: associated (packed) file name -> its lines (label files)
    associated_files: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def _tensors(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tensors = []
    for item in items:
        norm = next((unit["options"] for unit in item.get("process_units", [])
                     if unit.get("options_type") == "NormalizationOptions"), None)
        tensors.append({
            "name": item.get("name"),
            "description": item.get("description"),
            "normalization": {"mean": norm.get("mean"), "std": norm.get("std")} if norm else None,
            "files": [f.get("name") for f in item.get("associated_files", [])],
        })
    return tensors


def read_metadata(path: Path | str) -> ModelMetadata | None:
    """Read a model's metadata with tflite-support; ``None`` when the model has none."""
    try:
        displayer = _metadata.MetadataDisplayer.with_model_file(str(path))
    except ValueError:  # tflite-support's way of saying "no TFLITE_METADATA in this model"
        return None
    except Exception as exc:  # a broken flatbuffer fails deep inside the generated reader
        raise ModelError(f"cannot read the metadata of {path}: {exc}",
                         hint="the file is damaged; pull or build it again") from exc
    raw = json.loads(displayer.get_metadata_json())
    subgraph = (raw.get("subgraph_metadata") or [{}])[0]
    files = {name: displayer.get_associated_file_buffer(name).decode("utf-8", "replace")
             .splitlines() for name in displayer.get_packed_associated_file_list()}
    return ModelMetadata(
        name=raw.get("name"), description=raw.get("description"), version=raw.get("version"),
        author=raw.get("author"), license=raw.get("license"),
        inputs=_tensors(subgraph.get("input_tensor_metadata", [])),
        outputs=_tensors(subgraph.get("output_tensor_metadata", [])),
        associated_files=files, raw=raw)
