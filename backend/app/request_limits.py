"""Request size limits, checked before anything reads the request: a URL over MAX_URL_BYTES is a 414, a header
block over MAX_HEADER_BYTES a 431, a body over the `MAX_BODY_BYTES` setting a 413, all problem+json.

The body is refused before it is read: at once when its `Content-Length` says it is too large; a body without one
(chunked) is counted as it arrives and refused at the chunk that passes the limit, so no more than the limit (and
the server's one read buffer) is ever held for it. The 413 closes the connection (`Connection: close`), so the
server reads no more of the body either. The check runs before the route, so before FastAPI reads the body and
before any dependency looks at the token: an anonymous caller costs no more than a signed-in one.

The server (app/http_server.py) has its own, higher ceiling on the request head; these limits are below it, so the
app answers first, with the request id, CORS and security headers of any other answer."""

from fastapi import HTTPException
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem

# The path and query string: the list's longest query (every filter, a search, a cursor) is well under 2 KiB.
MAX_URL_BYTES = 8 * 1024
# Every header line, counted as sent (`name: value` and its CR LF). A token is about 200 bytes.
MAX_HEADER_BYTES = 32 * 1024
# A refused body is not read to its end: the server closes the connection after the answer instead.
CLOSE = {"Connection": "close"}


def url_bytes(scope: Scope) -> int:
    query = scope.get("query_string", b"")
    return len(scope.get("raw_path") or scope["path"].encode()) + (len(query) + 1 if query else 0)


def header_bytes(scope: Scope) -> int:
    return sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def body_too_large_detail(limit: int) -> str:
    return f"The request body is larger than the {limit} bytes this API accepts."


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without Content-Length passes the limit; FastAPI lets an HTTPException
    from reading the body through, and errors.py renders it like any other."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, body_too_large_detail(limit))


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the live feed's WebSocket has its own message limit; lifespan has no request
            await self.app(scope, receive, send)
            return
        if url_bytes(scope) > MAX_URL_BYTES:
            await problem(414, f"The URL is longer than the {MAX_URL_BYTES} bytes this API accepts.")(
                scope, receive, send
            )
            return
        if header_bytes(scope) > MAX_HEADER_BYTES:
            await problem(431, f"The request headers are larger than the {MAX_HEADER_BYTES} bytes this API accepts.")(
                scope, receive, send
            )
            return
        content_length = Headers(scope=scope).get("content-length")
        # The server has checked that a Content-Length is a number (it answers 400 itself otherwise).
        if content_length is not None and content_length.isdigit():
            if int(content_length) > self.max_body_bytes:
                await problem(413, body_too_large_detail(self.max_body_bytes), headers=CLOSE)(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server delivers no more than it declares
            return
        received, refused = 0, False

        async def receive_counted() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    refused = True
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def send_closing_if_refused(message: Message) -> None:
            if refused and message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(CLOSE)
            await send(message)

        await self.app(scope, receive_counted, send_closing_if_refused)
