#!/usr/bin/env python3
"""Serve the Incident Tracker pages (frontend/) for development and the browser tests.

Standard library only. It answers GET /js/config.js itself, so the pages reach the API
wherever it runs:

    API_BASE_URL  the whole API address (wins over API_PORT), e.g. https://api.example.org;
                  PUBLIC_API_URL (the app's setting of the same meaning) is read when it is not set
    API_PORT      port of the API on 127.0.0.1 (default 8000)
    WEB_PORT      port to listen on (default 5500)
    WEB_HOST      address to listen on (default 127.0.0.1)

    python scripts/serve_web.py [--host HOST] [--port PORT] [--api-url URL]

Only files inside frontend/ are served; Ctrl-C (or SIGTERM) stops the server.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import signal
import sys
from collections.abc import Mapping
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"
CONFIG_PATH = "/js/config.js"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


def default_api_url(environ: Mapping[str, str] = os.environ) -> str:
    for name in ("API_BASE_URL", "PUBLIC_API_URL"):
        if environ.get(name):
            return environ[name]
    return f"http://127.0.0.1:{environ.get('API_PORT') or 8000}"


def check_api_url(url: str) -> str:
    """An http(s) origin with an optional path, without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {url!r}")
    return url.rstrip("/")


def config_js(api_url: str) -> bytes:
    # json.dumps gives a valid, escaped JavaScript string literal.
    return (
        "// Written by scripts/serve_web.py from API_BASE_URL / API_PORT.\n"
        f"export const API_BASE_URL = {json.dumps(api_url)};\n"
    ).encode()


class FrontendHandler(SimpleHTTPRequestHandler):
    """Static files from frontend/ only, with correct types; /js/config.js is generated."""

    server_version = "IncidentTrackerWeb"
    extensions_map: ClassVar[dict[str, str]] = {**SimpleHTTPRequestHandler.extensions_map, **CONTENT_TYPES}

    def __init__(self, *args, api_url: str, **kwargs):
        self.api_url = api_url
        self.cache_control_sent = False
        super().__init__(*args, **kwargs)

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "cache-control":
            self.cache_control_sent = True
        super().send_header(keyword, value)

    def end_headers(self) -> None:
        origin = urlsplit(self.api_url)
        api_origin = f"{origin.scheme}://{origin.netloc}"
        live_origin = f"{'wss' if origin.scheme == 'https' else 'ws'}://{origin.netloc}"  # the live feed
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "same-origin")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"connect-src 'self' {api_origin} {live_origin}; "
            "img-src 'self' data:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        )
        if not self.cache_control_sent:
            self.send_header("Cache-Control", "no-cache")  # revalidate: edits show up on reload
        super().end_headers()
        self.cache_control_sent = False  # the connection may carry another request

    def send_head(self):
        path = unquote(urlsplit(self.path).path)
        segments = path.split("/")
        if "\\" in path or "\x00" in path or ".." in segments:
            self.send_error(HTTPStatus.NOT_FOUND)
            return None
        if posixpath.normpath(path) == CONFIG_PATH:
            body = config_js(self.api_url)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", CONTENT_TYPES[".js"])
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            return _Body(body)
        return super().send_head()

    def translate_path(self, path: str) -> str:
        # The standard translation drops ".." segments; also refuse anything (e.g. a symlink)
        # that resolves outside frontend/.
        translated = Path(super().translate_path(path)).resolve()
        root = FRONTEND_DIR.resolve()
        if translated != root and root not in translated.parents:
            return str(root / "__outside__")  # does not exist: 404
        return str(translated)

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND)  # no directory listings
        return None


class _Body:
    """The file-like object send_head() returns for the generated config.js."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, *_args) -> bytes:
        data, self.data = self.data, b""
        return data

    def close(self) -> None:
        pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the Incident Tracker pages (frontend/).")
    parser.add_argument(
        "--host",
        default=os.environ.get("WEB_HOST") or "127.0.0.1",
        help="address to listen on (default $WEB_HOST or 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("WEB_PORT") or 5500),
        help="port to listen on (default $WEB_PORT or 5500)",
    )
    parser.add_argument(
        "--api-url",
        type=check_api_url,
        default=None,
        help="API address for the pages (default $API_BASE_URL or $PUBLIC_API_URL, else http://127.0.0.1:$API_PORT)",
    )
    args = parser.parse_args(argv)
    if args.api_url is None:
        try:
            args.api_url = check_api_url(default_api_url())
        except argparse.ArgumentTypeError as error:
            parser.error(f"API_BASE_URL / PUBLIC_API_URL: {error}")
    return args


def _stop(signum, frame):
    raise KeyboardInterrupt


def make_server(host: str, port: int, api_url: str) -> ThreadingHTTPServer:
    """Serve frontend/, with /js/config.js pointing the pages at `api_url`. Raises OSError if the port is taken."""
    handler = partial(FrontendHandler, api_url=check_api_url(api_url), directory=str(FRONTEND_DIR))
    return ThreadingHTTPServer((host, port), handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        server = make_server(args.host, args.port, args.api_url)
    except OSError as error:
        print(f"Cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # also when started in the background, where SIGINT is ignored
    host, port = server.server_address[:2]
    print(f"Serving frontend/ on http://{host}:{port}/ (API: {args.api_url}); Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("Stopping.", flush=True)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
