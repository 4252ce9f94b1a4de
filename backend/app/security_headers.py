"""Security headers on every HTTP answer of the API, errors included (the WebSocket route is no HTTP answer)."""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A year, as browsers' preload lists ask.
HSTS = "max-age=31536000"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# No page of the API may be framed; the answers are data, or the API docs, which load their own scripts.
FRAME_ANCESTORS = "frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    """Adds the headers above; `Cache-Control: no-store` unless the answer chose its own caching (tokens, incidents,
    accounts and the audit trail are never to be kept by a cache, RFC 6749 5.1); HSTS when the request came over TLS
    or `behind_tls` says a proxy in front ends TLS."""

    def __init__(self, app: ASGIApp, *, behind_tls: bool = False) -> None:
        self.app = app
        self.behind_tls = behind_tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        over_tls = self.behind_tls or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = FRAME_ANCESTORS
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if over_tls:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
