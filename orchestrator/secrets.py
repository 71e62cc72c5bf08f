"""Credentials out of everything the farm prints or logs: the one rule, here.

A URL's credentials, each shown as ``***``:

- the password of its user info: ``redis://:PASSWORD@host``, ``postgresql://user:PASSWORD@host``
  (the password runs to the URL's last ``@``, so an unescaped ``@``, ``/`` or ``#`` in it is
  masked too); a user without a password is kept (``postgresql://farm@db/farm``);
- the value of a query parameter whose name says it is one: ``password=``, ``token=``, ``key=``,
  ``secret=``, ``sig=``, ``auth...=``, ``credential...=`` (``?password=`` works in redis-py and
  psycopg URLs; ``key=`` and ``token=`` in chat webhooks);
- the path of a web URL after a webhook segment (``/services/`` for Slack, ``/webhooks/`` for
  Discord, ``/hooks/`` for Mattermost and Gitea, ``/webhookb2/`` for Teams), and any other path
  segment that looks like a token (20 or more letters, digits and ``-_:.~%=+``, with both a letter
  and a digit: a Telegram bot's ``bot123:ABC...``).

Database, broker and file URLs keep their paths (a SQLite file or a database name is no secret).

``mask_url`` masks one URL (or kombu's ``;``-separated failover list); ``mask_text`` every URL in a
message, then every credential it is given as plain text (a driver's error may quote a password
without its URL), which ``url_secrets`` takes from a URL. Both are pure and never raise: they run
in error paths, on URLs that may not parse. ``mask_logging`` applies ``mask_text`` to every log
record of the process.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

__all__ = ["MASK", "mask_logging", "mask_text", "mask_url", "url_secrets"]

MASK = "***"
#: a credential shorter than this is not looked for as plain text: masking every "ab" of a message
#: would garble it, and so short a password protects nothing anyway
_MIN_LITERAL = 4

_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"
#: a URL in a message: up to the next space, less the punctuation that ends a sentence or a quote
_URL_IN_TEXT = re.compile(rf"{_SCHEME}://\S+?(?=[.,;:!?)\]'\"]*(?:\s|$))")
_URL_START = re.compile(rf"({_SCHEME})://")
_FAILOVER = re.compile(rf";(?={_SCHEME}://)")
_PARTS = re.compile(r"(?P<authority>[^/?#]*)(?P<path>[^?#]*)(?P<tail>.*)", re.S)
_SECRET_PARAM = re.compile(
    r"(?i)(?P<name>[?&;][^=&#;\s]*(?:pass|pwd|secret|token|key|auth|sig|credential)[^=&#;\s]*=)"
    r"(?P<value>[^&#;\s]*)")
_HOOK_PATH = re.compile(r"(?i)(?P<marker>/(?:hooks|webhooks?|webhookb2|services)/)(?P<rest>.+)")
_TOKEN_SEGMENT = re.compile(r"(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_\-:.~%=+]{20,}")
#: URL schemes whose path is a file, a database or a broker's number: never masked
_PLAIN_PATH_SCHEMES = ("sqlite", "file", "postgres", "postgresql", "mysql", "mariadb", "oracle",
                       "mssql", "redis", "rediss", "sentinel", "amqp", "amqps", "memory")


def _mask_path(path: str, found: list[str]) -> str:
    hook = _HOOK_PATH.search(path)
    if hook:
        found.append(hook["rest"])
        found.extend(hook["rest"].split("/"))
        path = path[:hook.start("rest")] + MASK
    segments = path.split("/")
    for i, segment in enumerate(segments):
        if _TOKEN_SEGMENT.fullmatch(segment):
            found.append(segment)
            segments[i] = MASK
    return "/".join(segments)


def _mask_param(match: re.Match[str], found: list[str]) -> str:
    if not match["value"]:
        return match[0]
    found.append(match["value"])
    return match["name"] + MASK


def _mask_one(url: str, found: list[str]) -> str:
    start = _URL_START.match(url)
    scheme, rest = (start[0], url[start.end():]) if start else ("", url)
    kind = start[1].lower().split("+")[0] if start else ""
    if kind not in ("sqlite", "file"):  # a path, whatever ":" and "@" it holds
        userinfo, at, hostpart = rest.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if at and colon:
            found.append(password)
            rest = f"{user}:{MASK}@{hostpart}"
    parts = _PARTS.match(rest)
    assert parts is not None  # every group may be empty: the pattern matches any string
    path = parts["path"]
    if kind not in _PLAIN_PATH_SCHEMES:
        path = _mask_path(path, found)
    tail = _SECRET_PARAM.sub(lambda m: _mask_param(m, found), parts["tail"])
    return scheme + parts["authority"] + path + tail


def _mask(url: str) -> tuple[str, list[str]]:
    found: list[str] = []
    masked = ";".join(_mask_one(part, found) for part in _FAILOVER.split(url))
    return masked, found


def mask_url(url: str) -> str:
    """``url`` with its credentials as ``***`` (see the module docstring); any other string is
    returned as it is."""
    return _mask(url)[0]


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The credentials of ``url`` as plain text, as written and percent-decoded (what a driver
    sees), for ``mask_text``."""
    if not url:
        return ()
    found = _mask(url)[1]
    return tuple(dict.fromkeys(s for raw in found for s in (raw, unquote(raw)) if s))


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Every URL in ``text`` through ``mask_url``, then every one of ``secrets`` (of 4 characters or
    more) that still appears, longest first."""
    masked = _URL_IN_TEXT.sub(lambda m: mask_url(m[0]), text)
    for secret in sorted({s for s in secrets if len(s) >= _MIN_LITERAL}, key=len, reverse=True):
        masked = masked.replace(secret, MASK)
    return masked


class _MaskingFactory:
    """A log record factory that masks each record's message and traceback as it is made, so
    every handler (Celery's own too) gets the masked text."""

    def __init__(self, base: Callable[..., logging.LogRecord], secrets: tuple[str, ...]) -> None:
        self.base = base
        self.secrets = secrets

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.base(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format: left to the handler to report
            return record
        masked = mask_text(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_text("".join(traceback.format_exception(*record.exc_info))
                                        .rstrip("\n"), self.secrets)
        return record


def mask_logging(secrets: Iterable[str] = ()) -> None:
    """From now on, mask every log record of this process (``mask_text`` with ``secrets``); a
    second call replaces the secrets."""
    current = logging.getLogRecordFactory()
    base = current.base if isinstance(current, _MaskingFactory) else current
    logging.setLogRecordFactory(_MaskingFactory(base, tuple(secrets)))
