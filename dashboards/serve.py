"""``farm dashboard serve``: the site over HTTP, each page rendered from the database on request.

Only the site's own page paths are served (nothing is read from disk, so no path can escape);
plotly.js is kept in memory and cached by the browser. Binds to loopback unless told otherwise.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session as DbSession

from dashboards.html import esc, plotly_js
from dashboards.site import PLOTLY_FILE, Site, SiteOptions

__all__ = ["is_loopback", "make_server"]

OpenDb = Callable[[], AbstractContextManager[DbSession]]


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _handler(open_db: OpenDb, options: SiteOptions) -> type[BaseHTTPRequestHandler]:
    script = plotly_js().encode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "tflite-farm"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the CLI prints where the site is; access logs would drown it."""

        def _send(self, status: HTTPStatus, body: bytes, content_type: str,
                  cache: str = "no-store") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path).lstrip("/") or "index.html"
            if path == PLOTLY_FILE:
                self._send(HTTPStatus.OK, script, "text/javascript; charset=utf-8",
                           cache="max-age=3600")
                return
            with open_db() as db:
                page = Site(db, datetime.now(UTC), options).render(path)
            if page is None:
                body = (f"<!DOCTYPE html><title>not found</title><p>No page {esc(path)}. "
                        "<a href='/index.html'>Fleet</a></p>").encode()
                self._send(HTTPStatus.NOT_FOUND, body, "text/html; charset=utf-8")
                return
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

    return Handler


def make_server(open_db: OpenDb, host: str, port: int,
                options: SiteOptions | None = None) -> ThreadingHTTPServer:
    """A server ready to ``serve_forever()``; port 0 picks a free port (see ``server_port``)."""
    server = ThreadingHTTPServer((host, port), _handler(open_db, options or SiteOptions()))
    server.daemon_threads = True
    return server
