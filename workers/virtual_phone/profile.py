"""Device profiles: what a virtual phone claims to be (``profiles/<name>.toml``).

A profile is read once, validated, and turned into the phone's system properties, its emulated
``/sys`` and ``/proc`` files and its thermal model. Schema (every table is required)::

    [device]     serial, manufacturer, brand, model, product, device, board, platform,
                 soc_manufacturer, soc_model, hardware, abilist = [..], android_release, sdk,
                 fingerprint, build_id, security_patch
    [cpu]        [[cpu.clusters]] cores = [ids], min_freq_khz, max_freq_khz, governor
    [memory]     total_kb
    [storage]    data_mb (the size of the phone's /data)
    [gpu]        vendor, renderer, gles_version
    [battery]    level (percent), charging (bool), voltage_mv, technology
    [thermal]    ambient_c, heat_c_per_busy_s, cooling_per_s, overheat_c,
                 [[thermal.zones]] name, kind (cpu|gpu|battery|skin|npu), gain
    [props]      optional extra system properties, verbatim
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

__all__ = [
    "PROFILE_DIR",
    "Battery",
    "CpuCluster",
    "Profile",
    "ThermalModel",
    "ThermalZone",
    "available_profiles",
    "load_profile",
]

PROFILE_DIR = Path(__file__).with_name("profiles")

#: thermal HAL types (android.os.Temperature.TYPE_*) by the kind names profiles use
ZONE_KINDS = {"cpu": 0, "gpu": 1, "battery": 2, "skin": 3, "usb_port": 4, "npu": 9}


@dataclass(frozen=True)
class CpuCluster:
    cores: tuple[int, ...]
    min_freq_khz: int
    max_freq_khz: int
    governor: str


@dataclass(frozen=True)
class Battery:
    level: int
    charging: bool
    voltage_mv: int
    technology: str


@dataclass(frozen=True)
class ThermalZone:
    name: str
    kind: str
    #: share of the CPU heating this zone receives
    gain: float


@dataclass(frozen=True)
class ThermalModel:
    ambient_c: float
    heat_c_per_busy_s: float
    #: fraction of the excess over ambient lost per second (Newton cooling)
    cooling_per_s: float
    overheat_c: float
    zones: tuple[ThermalZone, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    serial: str
    device: dict[str, Any]
    clusters: tuple[CpuCluster, ...]
    mem_total_kb: int
    data_mb: int
    gpu: dict[str, str]
    battery: Battery
    thermal: ThermalModel
    extra_props: dict[str, str]

    @property
    def model(self) -> str:
        return str(self.device["model"])

    @property
    def core_count(self) -> int:
        return sum(len(c.cores) for c in self.clusters)

    def with_serial(self, serial: str) -> Profile:
        return replace(self, serial=serial)

    def properties(self) -> dict[str, str]:
        """The phone's system properties (``getprop``), derived from the profile."""
        d = self.device
        abis = [str(a) for a in d["abilist"]]
        props = {
            "ro.serialno": self.serial,
            "ro.boot.serialno": self.serial,
            "ro.product.manufacturer": d["manufacturer"],
            "ro.product.brand": d["brand"],
            "ro.product.model": d["model"],
            "ro.product.name": d["product"],
            "ro.product.device": d["device"],
            "ro.product.board": d["board"],
            "ro.board.platform": d["platform"],
            "ro.hardware": d["hardware"],
            "ro.soc.manufacturer": d["soc_manufacturer"],
            "ro.soc.model": d["soc_model"],
            "ro.product.cpu.abi": abis[0],
            "ro.product.cpu.abilist": ",".join(abis),
            "ro.product.cpu.abilist64": ",".join(a for a in abis if "64" in a),
            "ro.product.cpu.abilist32": ",".join(a for a in abis if "64" not in a),
            "ro.build.version.release": d["android_release"],
            "ro.build.version.sdk": str(d["sdk"]),
            "ro.build.fingerprint": d["fingerprint"],
            "ro.build.id": d["build_id"],
            "ro.build.version.security_patch": d["security_patch"],
            "ro.build.type": "user",
            "ro.build.tags": "release-keys",
            "ro.hardware.egl": self.gpu["egl"],
            "sys.boot_completed": "1",
            "init.svc.adbd": "running",
            "persist.sys.usb.config": "adb",
        }
        props.update({k: str(v) for k, v in self.extra_props.items()})
        return {k: str(v) for k, v in props.items()}

    def banner(self, features: list[str]) -> bytes:
        """The CNXN payload a device sends: ``device::<props>;features=...``."""
        d = self.device
        return (
            f"device::ro.product.name={d['product']};ro.product.model={d['model']};"
            f"ro.product.device={d['device']};features={','.join(features)}"
        ).encode()


_DEVICE_KEYS = (
    "serial", "manufacturer", "brand", "model", "product", "device", "board", "platform",
    "soc_manufacturer", "soc_model", "hardware", "abilist", "android_release", "sdk",
    "fingerprint", "build_id", "security_patch",
)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by name, or any profile file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ConfigError(
            f"no virtual phone profile {str(name_or_path)!r}",
            hint=f"use one of {', '.join(available_profiles())} or a path to a .toml file",
        )
    try:
        raw = tomllib.loads(path.read_text())
        return _build(path.stem, raw)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"invalid virtual phone profile {path}: {exc!r}",
            hint="compare it with the shipped profiles in workers/virtual_phone/profiles/",
        ) from exc


def _build(name: str, raw: dict[str, Any]) -> Profile:
    device = raw["device"]
    missing = [k for k in _DEVICE_KEYS if k not in device]
    if missing:
        raise KeyError(f"[device] lacks {', '.join(missing)}")
    clusters = tuple(
        CpuCluster(
            cores=tuple(int(c) for c in cl["cores"]),
            min_freq_khz=int(cl["min_freq_khz"]),
            max_freq_khz=int(cl["max_freq_khz"]),
            governor=str(cl["governor"]),
        )
        for cl in raw["cpu"]["clusters"]
    )
    cores = sorted(c for cl in clusters for c in cl.cores)
    if cores != list(range(len(cores))) or not cores:
        raise ValueError(f"cluster cores must cover 0..N-1 exactly once, got {cores}")
    th = raw["thermal"]
    zones = tuple(
        ThermalZone(name=str(z["name"]), kind=str(z["kind"]), gain=float(z["gain"]))
        for z in th["zones"]
    )
    bad = [z.kind for z in zones if z.kind not in ZONE_KINDS]
    if bad or not any(z.kind == "battery" for z in zones):
        raise ValueError(f"thermal zones need a battery zone and kinds in {sorted(ZONE_KINDS)}")
    b = raw["battery"]
    gpu = {k: str(v) for k, v in raw["gpu"].items()}
    for key in ("vendor", "renderer", "gles_version", "egl"):
        if key not in gpu:
            raise KeyError(f"[gpu] lacks {key}")
    return Profile(
        name=name,
        serial=str(device["serial"]),
        device=dict(device),
        clusters=clusters,
        mem_total_kb=int(raw["memory"]["total_kb"]),
        data_mb=int(raw["storage"]["data_mb"]),
        gpu=gpu,
        battery=Battery(
            level=int(b["level"]),
            charging=bool(b["charging"]),
            voltage_mv=int(b["voltage_mv"]),
            technology=str(b["technology"]),
        ),
        thermal=ThermalModel(
            ambient_c=float(th["ambient_c"]),
            heat_c_per_busy_s=float(th["heat_c_per_busy_s"]),
            cooling_per_s=float(th["cooling_per_s"]),
            overheat_c=float(th["overheat_c"]),
            zones=zones,
        ),
        extra_props={str(k): str(v) for k, v in raw.get("props", {}).items()},
    )
