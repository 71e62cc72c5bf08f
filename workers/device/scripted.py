"""A scripted device: a ``Device`` whose answers come from rules, for tests of the job path that
need no adb server (the virtual phones exercise the real protocol; this exercises the logic).

    phone = ScriptedDevice("scripted-1")
    phone.on(r"^getprop ro\\.serialno$", "SERIAL1\\n")
    phone.on(r"dumpsys battery", environment_text)          # a str is stdout, exit status 0
    phone.on(r"^timeout ", lambda script: ShellResult(out, "", 0))
    phone.fail(r"^timeout ", DeviceLost("cable pulled"), times=1)   # the next benchmark drops

Rules are tried newest first, so a test can override a default; a rule with ``times`` is used up
after that many matches. Files pushed are kept in ``files`` (path -> bytes) and the file commands
the push cache runs (``sha256sum``, ``mkdir -p``, ``chmod``, ``df -k``) are answered from them,
as a phone's shell would; ``free_bytes`` bounds what fits. Every call is recorded in ``calls``.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import DeviceError, DeviceStorageFull
from workers.device.protocol import Device, ShellResult

__all__ = ["Call", "Reply", "ScriptedDevice", "ScriptedLink"]

#: what a rule answers: stdout (exit status 0), a full result, or a function of the script
Reply = str | ShellResult | Callable[[str], "str | ShellResult"]


@dataclass(frozen=True)
class Call:
    kind: str  # "shell" | "push" | "pull"
    script: str  # the command line as the phone's shell would get it, or the remote path


@dataclass
class _Rule:
    pattern: re.Pattern[str]
    reply: Reply | None
    error: DeviceError | None = None
    times: int | None = None


@dataclass
class ScriptedDevice:
    transport: str = "scripted"
    files: dict[str, bytes] = field(default_factory=dict)
    free_bytes: int = 1 << 40
    calls: list[Call] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)

    def on(self, pattern: str, reply: Reply, *, times: int | None = None) -> ScriptedDevice:
        self._rules.append(_Rule(re.compile(pattern), reply, times=times))
        return self

    def fail(self, pattern: str, error: DeviceError, *, times: int | None = 1) -> ScriptedDevice:
        """Raise ``error`` for matching scripts (pushes match their remote path)."""
        self._rules.append(_Rule(re.compile(pattern), None, error, times))
        return self

    def commands(self, kind: str = "shell") -> list[str]:
        return [call.script for call in self.calls if call.kind == kind]

    def _match(self, text: str) -> _Rule | None:
        for rule in reversed(self._rules):
            if rule.times != 0 and rule.pattern.search(text):
                if rule.times is not None:
                    rule.times -= 1
                if rule.error is not None:
                    raise rule.error
                return rule
        return None

    def _files(self, argv: Sequence[str]) -> ShellResult | None:
        """The push cache's file commands, answered from ``files``."""
        if argv[:1] == ["sha256sum"] and len(argv) == 2:
            data = self.files.get(argv[1])
            if data is None:
                return ShellResult("", f"sha256sum: {argv[1]}: No such file or directory\n", 1)
            return ShellResult(f"{hashlib.sha256(data).hexdigest()}  {argv[1]}\n", "", 0)
        if argv[:2] == ["mkdir", "-p"] or argv[:1] == ["chmod"]:
            return ShellResult("", "", 0)
        if argv[:2] == ["df", "-k"]:
            return ShellResult("Filesystem 1K-blocks Used Available Use% Mounted on\n"
                               f"/dev/data 1 1 {self.free_bytes // 1024} 1% /data\n", "", 0)
        return None

    def run_script(self, script: str, timeout: float = 60.0) -> ShellResult:
        self.calls.append(Call("shell", script))
        rule = self._match(script)
        if rule is None:
            try:
                argv = shlex.split(script)
            except ValueError:
                argv = []
            builtin = self._files(argv)
            if builtin is not None:
                return builtin
            return ShellResult("", f"scripted device: no rule for {script!r}\n", 127)
        reply = rule.reply(script) if callable(rule.reply) else rule.reply
        return reply if isinstance(reply, ShellResult) else ShellResult(str(reply), "", 0)

    def shell(self, argv: Sequence[str], timeout: float = 60.0) -> ShellResult:
        return self.run_script(shlex.join(argv), timeout)

    def push(self, local: Path, remote: str, mode: int = 0o644) -> None:
        self.calls.append(Call("push", remote))
        self._match(remote)
        data = local.read_bytes()
        if len(data) > self.free_bytes:
            raise DeviceStorageFull(f"{self.transport}: storage is full (the push of {local.name})",
                                    hint="free space on the phone (/data/local/tmp) and retry")
        self.files[remote] = data

    def pull(self, remote: str, local: Path) -> None:
        self.calls.append(Call("pull", remote))
        self._match(remote)
        if remote not in self.files:
            raise DeviceError(f"{self.transport}: no file {remote}")
        local.write_bytes(self.files[remote])

    def getprops(self) -> str:
        return self.run_script("getprop", timeout=30).stdout


@dataclass
class ScriptedLink:
    """A ``DeviceLink`` to a scripted device; ``online = False`` unplugs it."""

    device: Device
    serial: str
    online: bool = True
    finds: int = 0

    def find(self) -> Device | None:
        self.finds += 1
        return self.device if self.online else None
