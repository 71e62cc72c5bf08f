"""Device selectors: choose phones by what they are, not by serial.

``--devices`` takes serials, ``all``, ``local``, or a selector: comma-separated terms over the
recorded device attributes, all of which must hold::

    model:"Pixel 7",android>=14        abi:arm64-v8a,ram>=8G        soc:GS201        host:lab-2

``key:value`` matches text, ignoring case (``*`` is a wildcard; ``gpu:mali*``); ``android``,
``sdk`` and ``ram`` compare as numbers with ``=``, ``>=``, ``<=``, ``>``, ``<`` (``ram`` in MB,
with ``G`` / ``M`` suffixes). A term whose key is not an attribute is a serial, so a transport like
``127.0.0.1:7100`` stays a name. Parsing is pure; ``matches`` reads a ``Device`` row.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import PlanError
from orchestrator.schema import Device

__all__ = ["TEXT_KEYS", "NUMBER_KEYS", "Selector", "Term", "is_selector", "parse_selector"]

#: attribute -> how to read it from a device row
TEXT_KEYS: dict[str, Callable[[Device], str | None]] = {
    "model": lambda d: d.model,
    "manufacturer": lambda d: d.manufacturer,
    "soc": lambda d: d.soc,
    "abi": lambda d: d.abi,
    "gpu": lambda d: d.gpu,
    "host": lambda d: d.host,
    "kind": lambda d: d.kind,
    "serial": lambda d: d.serial,
}


def _android(device: Device) -> float | None:
    found = re.match(r"Android (\d+(?:\.\d+)?)", device.os or "")
    return float(found.group(1)) if found else None


def _sdk(device: Device) -> float | None:
    sdk = (device.info or {}).get("sdk")
    return float(sdk) if isinstance(sdk, int | float) else None


NUMBER_KEYS: dict[str, Callable[[Device], float | None]] = {
    "android": _android,
    "sdk": _sdk,
    "ram": lambda d: float(d.ram_mb) if d.ram_mb else None,
}

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "=": operator.eq,
}
_TERM = re.compile(r'^\s*([a-z]+)\s*(>=|<=|>|<|=|:)\s*(.*?)\s*$')
_HINT = ('terms are key:text (model, manufacturer, soc, abi, gpu, host, kind, serial) or a number '
         'comparison (android>=14, sdk>=33, ram>=8G), comma-separated, e.g. model:"Pixel 7",android>=14')


@dataclass(frozen=True)
class Term:
    key: str
    op: str  # ":" for text, else a comparison
    value: str | float

    def matches(self, device: Device) -> bool:
        if self.op == ":":
            text = TEXT_KEYS[self.key](device)
            return text is not None and fnmatch.fnmatchcase(text.casefold(),
                                                            str(self.value).casefold())
        number = NUMBER_KEYS[self.key](device)
        return number is not None and _OPERATORS[self.op](number, self.value)

    def __str__(self) -> str:
        value = self.value
        if isinstance(value, float):
            value = f"{value:g}"
        return f"{self.key}{self.op}{value}"


@dataclass(frozen=True)
class Selector:
    terms: tuple[Term, ...]

    def matches(self, device: Device) -> bool:
        return all(term.matches(device) for term in self.terms)

    def select(self, devices: Sequence[Device]) -> list[Device]:
        return [device for device in devices if self.matches(device)]

    def __str__(self) -> str:
        return ",".join(str(term) for term in self.terms)


def _key_of(item: str) -> str | None:
    found = _TERM.match(item)
    return found.group(1) if found and found.group(1) in TEXT_KEYS | NUMBER_KEYS else None


def is_selector(names: Sequence[str]) -> bool:
    """Whether ``--devices`` items are selector terms (a known attribute as the key)."""
    return any(_key_of(name) for name in names)


def _number(key: str, text: str) -> float:
    unit = 1.0
    if key == "ram" and text[-1:].upper() in ("G", "M"):
        unit = 1024.0 if text[-1].upper() == "G" else 1.0
        text = text[:-1]
    try:
        return float(text) * unit
    except ValueError:
        raise PlanError(f"--devices: {key} needs a number, not {text!r}", hint=_HINT) from None


def parse_selector(names: Sequence[str]) -> Selector:
    """``--devices`` items (already split at commas) as a selector; every item must be a term."""
    terms = []
    for item in names:
        found = _TERM.match(item)
        key = _key_of(item)
        if found is None or key is None:
            raise PlanError(f"--devices: {item!r} is not a selector term", hint=_HINT)
        op, value = found.group(2), found.group(3).strip().strip('"').strip("'")
        if not value:
            raise PlanError(f"--devices: {item!r} has no value", hint=_HINT)
        if key in TEXT_KEYS:
            if op != ":":
                raise PlanError(f"--devices: {key} is text; write {key}:VALUE", hint=_HINT)
            terms.append(Term(key, ":", value))
        else:
            if op == ":":
                op = "="
            terms.append(Term(key, op, _number(key, value)))
    return Selector(tuple(terms))
