"""Heat: a phone warms with the CPU time its processes burn and cools towards ambient at rest.

Each zone follows ``T += gain * heat_c_per_busy_s * busy_s - cooling_per_s * (T - ambient) * dt``
(Newton cooling), where ``busy_s`` is the CPU time the phone's processes used during ``dt``.
The ``overheat`` fault holds every zone above the profile's ``overheat_c`` until it is cleared,
after which the phone cools like any other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from workers.virtual_phone.profile import ThermalModel

__all__ = ["DescendantCpu", "ThermalState"]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class ThermalState:
    model: ThermalModel
    temps: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.temps:
            self.temps = {z.name: self.model.ambient_c + 2.0 * z.gain for z in self.model.zones}

    def step(self, dt: float, busy_s: float, *, overheat: bool) -> None:
        m = self.model
        for zone in m.zones:
            t = self.temps[zone.name]
            t += zone.gain * m.heat_c_per_busy_s * busy_s
            t -= min(1.0, m.cooling_per_s * dt) * (t - m.ambient_c)
            if overheat:
                t = max(t, m.overheat_c + 2.0 * zone.gain)
            self.temps[zone.name] = t

    def temperature(self, kind: str) -> float:
        """Hottest zone of a kind (``battery``, ``skin``, ``cpu``...), else the hottest zone."""
        of_kind = [self.temps[z.name] for z in self.model.zones if z.kind == kind]
        return max(of_kind or self.temps.values())

    def status(self) -> int:
        """Android's thermal status (0 NONE .. 6 SHUTDOWN) from the skin temperature."""
        excess = self.temperature("skin") - self.model.overheat_c
        steps = (-8.0, -5.0, -2.0, 0.0, 3.0, 6.0)  # LIGHT, MODERATE, SEVERE, CRITICAL, ...
        return sum(1 for s in steps if excess >= s)


class DescendantCpu:
    """CPU seconds used by this process's descendants, read from ``/proc``.

    Reaped children are in our own ``cutime``/``cstime``; each live descendant adds its own time
    plus that of its reaped children, so every CPU second is counted once. Orphans that escape
    to init are lost, which only makes a phone a little cooler than it should be.
    """

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._last = self._total()

    def busy_since_last(self) -> float:
        total = self._total()
        busy = max(0.0, total - self._last)
        self._last = total
        return busy

    def _total(self) -> float:
        stats: dict[int, tuple[int, int]] = {}  # pid -> (ppid, ticks incl. reaped children)
        own_reaped = 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            fields = raw[raw.rfind(b")") + 2 :].split()
            ppid = int(fields[1])
            utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
            pid = int(name)
            if pid == self._pid:
                own_reaped = cutime + cstime
            else:
                stats[pid] = (ppid, utime + stime + cutime + cstime)
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        ticks = own_reaped
        todo = list(children.get(self._pid, []))
        while todo:
            pid = todo.pop()
            ticks += stats[pid][1]
            todo.extend(children.get(pid, []))
        return ticks / _CLK_TCK
