"""The catalog data is valid, matches the issue's reference figures, and bad data is refused."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from models.catalog import CATALOG_PATH, QUANTIZATIONS, load_catalog
from models.converter import BUILD_SCRIPT
from orchestrator.errors import CatalogError


def _architectures() -> set[str]:
    """ARCHITECTURES' keys, read from the converter's source (it imports TensorFlow)."""
    tree = ast.parse((BUILD_SCRIPT.parent / "heads.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "ARCHITECTURES":
            assert isinstance(node.value, ast.Dict)
            return {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    raise AssertionError("heads.py has no ARCHITECTURES")


def test_catalog_loads_with_every_reference_model() -> None:
    catalog = load_catalog()
    assert len(catalog.entries) == 22
    tasks = {e.task for e in catalog.entries}
    assert tasks == {"segmentation", "style_prediction", "style_transfer"}
    assert {e.quantization for e in catalog.entries} <= set(QUANTIZATIONS)
    assert all(e.replica.arch in _architectures() for e in catalog.entries)


@pytest.mark.parametrize(("name", "size"), [
    ("deeplabv3-official", 2_780_051),
    ("deeplabv3-mnv2-dm1-pascal-dr", 2_219_600), ("deeplabv3-mnv2-dm1-pascal-fp16", 4_253_824),
    ("deeplabv3-mnv2-dm1-pascal-int8", 2_663_984), ("deeplabv3-mnv2-dm05-pascal-dr", 788_664),
    ("deeplabv3-mnv2-dm05-pascal-fp16", 1_428_664), ("deeplabv3-mnv2-dm05-pascal-int8", 1_007_216),
    ("deeplabv3-mnv2-ade20k-dr", 2_415_896), ("deeplabv3-xception65-ade20k-dr", 41_651_096),
    ("deeplabv3-xception65-cityscapes-dr", 41_617_032), ("magenta-mnv2-transfer-fp16", 422_086),
])
def test_reference_sizes_are_the_issues_exact_figures(name: str, size: int) -> None:
    entry = load_catalog().get(name)
    assert entry.reference_size_bytes == size
    assert entry.reference_size_exact


def test_official_deeplab_source_and_shapes() -> None:
    entry = load_catalog().get("deeplabv3-official")
    assert entry.official.url == ("https://storage.googleapis.com/download.tensorflow.org/models/"
                                  "tflite/gpu/deeplabv3_257_mv_gpu.tflite")
    assert entry.official.size_bytes == 2_780_051
    assert entry.official.sha256 is None  # unknown here: never invented
    assert entry.inputs[0].shape == (1, 257, 257, 3)
    assert entry.outputs[0].shape == (1, 257, 257, 21)
    assert entry.labels_path is not None and entry.labels_path.read_text().split("\n")[0] == (
        "background")


def test_label_files_have_the_datasets_class_counts() -> None:
    catalog = load_catalog()
    counts = {e.labels: len(e.labels_path.read_text().splitlines())
              for e in catalog.entries if e.labels_path}
    assert counts == {"pascal_voc_21": 21, "ade20k_151": 151, "cityscapes_19": 19}


def test_select_all_and_names() -> None:
    catalog = load_catalog()
    assert len(catalog.select(["all"])) == 22
    light = catalog.select(["all"], include_heavy=False)
    assert len(light) == 16
    assert not any("xception" in e.name or "inceptionv3-transfer" in e.name for e in light)
    assert [e.name for e in catalog.select(["magenta-mnv2-transfer-int8-replica"])] == [
        "magenta-mnv2-transfer-int8"]
    with pytest.raises(CatalogError, match="no catalog entry named 'nope'"):
        catalog.select(["nope"])


_GOOD = CATALOG_PATH.read_text().split("\n[[model]]")[0] + """
[[model]]
name = "toy"
task = "segmentation"
backbone = "b"
dataset = "d"
labels = "cityscapes_19"
quantization = "int8"
inputs = [{ name = "x", shape = [1, 8, 8, 3], range = [-1.0, 1.0] }]
outputs = [{ name = "y", shape = [1, 8, 8, 19] }]
official = { handle = "someone/toy/1" }
replica = { arch = "deeplab_v3" }
"""


@pytest.mark.parametrize(("edit", "message"), [
    (("", ""), None),
    (('quantization = "int8"', 'quantization = "int4"'), "quantization 'int4'"),
    (('[1, 8, 8, 19]', '[1, 8, 8, 21]'), "cityscapes_19.txt has 19 labels, the output has 21"),
    (('official = { handle = "someone/toy/1" }',
      'official = { handle = "someone/toy/1", sha256 = "abc" }'), "not 64 lowercase hex"),
    (('dataset = "d"', 'dataset = "d"\ncolour = "red"'), "unknown field"),
    (('[1, 8, 8, 3]', '[1, 0, 8, 3]'), "not positive integers"),
    (('name = "toy"', 'name = "Toy Model"'), "name must be"),
])
def test_bad_catalogs_are_refused(tmp_path: Path, edit: tuple[str, str], message: str | None
                                  ) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(_GOOD.replace(*edit))
    if message is None:
        entry = load_catalog(path).get("toy")
        assert entry.official.url == "https://tfhub.dev/someone/toy/1?lite-format=tflite"
        return
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    toy = _GOOD.split("\n[[model]]")[1]
    path.write_text(_GOOD + "\n[[model]]" + toy)
    with pytest.raises(CatalogError, match="'toy' is used twice"):
        load_catalog(path)
