"""The phone's filesystem view: a private mount namespace whose root only this phone sees.

``enter_phone_root()`` is called once, early, by the phone's server process (before any thread
starts: a mount namespace belongs to the calling thread). It builds, on a tmpfs mounted at a
host directory that nothing else uses::

    /data          tmpfs of the profile's size (real ENOSPC when full), with /data/local/tmp
    /storage/emulated/0   bind of /data/media/0;  /sdcard -> /storage/emulated/0
    /system/bin    sh (the host's dash) and the emulated tools; /system/build.prop
    /sys           a tmpfs with the profile's cpu, thermal and power_supply files
    /proc          the host's, with /proc/meminfo replaced by the profile's
    /usr /etc      the host's, read-only (bin, lib, lib64, sbin follow the host's layout)
    /dev           the host's
    the Python interpreter, its venv and this project, read-only at their host paths, so the
    host runner can be the phone's benchmark binary

and then chroots into it. Everything the phone writes lives in memory and vanishes with it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from pathlib import Path

from orchestrator.errors import DeviceError

__all__ = ["enter_phone_root", "resize_data", "write_files"]

_CLONE_NEWNS = 0x00020000
_MS_RDONLY = 1
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)

#: top-level host directories that are symlinks on merged-/usr systems, or real dirs elsewhere
_USR_LINKS = ("bin", "lib", "lib32", "lib64", "libx32", "sbin")


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def _bind(source: str, target: str, *, readonly: bool, recursive: bool = False) -> None:
    _mount(source, target, None, _MS_BIND | (_MS_REC if recursive else 0), None)
    if readonly:
        _mount("none", target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None)


def _runtime_dirs() -> list[str]:
    """Host directories the Python interpreter and this project need, outermost only."""
    project = Path(__file__).resolve().parents[2]
    candidates = {
        os.path.realpath(sys.base_prefix),
        os.path.realpath(sys.prefix),
        str(project),
        os.path.dirname(os.path.realpath(sys.executable)),
    }
    kept: list[str] = []
    for path in sorted(candidates, key=len):
        if path.startswith(("/usr/", "/etc/")) or path in ("/usr", "/"):
            continue
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def enter_phone_root(root: Path, *, data_mb: int, files: dict[str, str], scripts: dict[str, str]) -> None:
    """Unshare the mount namespace, build the phone's root at ``root`` and chroot into it."""
    if _libc.unshare(_CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise DeviceError(
            f"cannot create a mount namespace for the virtual phone: {os.strerror(err)}",
            hint="virtual phones need root (CAP_SYS_ADMIN) on Linux",
        )
    # Nothing mounted from here on may propagate back to the host.
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)
    r = str(root)
    _mount("tmpfs", r, "tmpfs", 0, "size=64m,mode=755")
    for sub in ("usr", "etc", "dev", "proc", "sys", "data", "tmp", "storage/emulated/0",
                "storage/self", "system/bin", "vendor", "mnt"):
        os.makedirs(f"{r}/{sub}", exist_ok=True)
    os.chmod(f"{r}/tmp", 0o1777)  # noqa: S103,S108 - the phone's own sticky /tmp
    _bind("/usr", f"{r}/usr", readonly=True)
    _bind("/etc", f"{r}/etc", readonly=True)
    _bind("/dev", f"{r}/dev", readonly=False, recursive=True)
    _bind("/proc", f"{r}/proc", readonly=False, recursive=True)
    for name in _USR_LINKS:
        host = f"/{name}"
        if os.path.islink(host):
            os.symlink(os.readlink(host), f"{r}/{name}")
        elif os.path.isdir(host):
            os.makedirs(f"{r}/{name}")
            _bind(host, f"{r}/{name}", readonly=True)
    for host_dir in _runtime_dirs():
        os.makedirs(f"{r}{host_dir}", exist_ok=True)
        _bind(host_dir, f"{r}{host_dir}", readonly=True)
    _mount("tmpfs", f"{r}/sys", "tmpfs", 0, "size=4m,mode=755")
    _mount("tmpfs", f"{r}/data", "tmpfs", 0, f"size={data_mb}m,mode=771")
    for sub, mode in (("local/tmp", 0o771), ("media/0", 0o770), ("misc", 0o771)):
        os.makedirs(f"{r}/data/{sub}", exist_ok=True)
        os.chmod(f"{r}/data/{sub}", mode)
    _bind(f"{r}/data/media/0", f"{r}/storage/emulated/0", readonly=False)
    os.symlink("/storage/emulated/0", f"{r}/storage/self/primary")
    os.symlink("/storage/self/primary", f"{r}/sdcard")
    os.symlink("/bin/sh", f"{r}/system/bin/sh")
    write_files(files, prefix=r)
    for path, text in scripts.items():
        write_files({path: text}, prefix=r)
        os.chmod(f"{r}{path}", 0o755)  # noqa: S103 - tools every phone user runs
    meminfo = f"{r}/system/vphone/meminfo"
    if os.path.exists(meminfo):
        _bind(meminfo, f"{r}/proc/meminfo", readonly=True)
    os.chroot(r)
    os.chdir("/")


def write_files(files: dict[str, str], *, prefix: str = "") -> None:
    """Replace each file whole (write + rename), so a concurrent reader never sees half of it."""
    for path, text in files.items():
        full = f"{prefix}{path}"
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = f"{os.path.dirname(full)}/.{os.path.basename(full)}.new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, full)


def resize_data(size_bytes: int | None, *, data_mb: int) -> None:
    """Shrink /data to ``size_bytes`` (storage full) or restore it to the profile's size (None)."""
    # tmpfs reads size=0 as "unlimited": keep at least one page
    option = f"size={data_mb}m" if size_bytes is None else f"size={max(size_bytes, 4096)}"
    try:
        _mount("tmpfs", "/data", None, _MS_REMOUNT, option)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        raise DeviceError(f"cannot resize the phone's /data to {option}: {exc}") from exc
