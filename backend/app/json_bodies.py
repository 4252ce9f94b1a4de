"""JSON request bodies are UTF-8 (RFC 8259 8.1): another declared charset is a 415, a body that is not UTF-8 a 400.

Without this, a body declared `charset=latin-1` was read as UTF-8 anyway, and one sent in UTF-16 or UTF-32 was
accepted, because Python's JSON reader guesses the encoding of bytes."""

import codecs
from email.message import Message as HeaderValue

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem


class NotUtf8(ValueError):
    """The body is not UTF-8 text (FastAPI answers a body it cannot read with 400, which errors.py words)."""


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


class Utf8JsonBodyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:  # no body
            await self.app(scope, receive, send)
            return
        content_type = headers.get("content-type")
        if content_type is None:  # FastAPI reads a body without a Content-Type as JSON
            media_type, charset = "application/json", None
        else:
            header = HeaderValue()
            header["content-type"] = content_type
            media_type, charset = header.get_content_type(), header.get_param("charset")
        if not _is_json(media_type):
            await self.app(scope, receive, send)
            return
        if isinstance(charset, str) and charset.lower() != "utf-8":
            response = problem(415, f"JSON bodies are UTF-8 (RFC 8259); charset={charset} is not accepted.")
            await response(scope, receive, send)
            return
        decoder = codecs.getincrementaldecoder("utf-8")()

        async def receive_utf8() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                try:
                    decoder.decode(chunk, final=not message.get("more_body", False))
                except UnicodeDecodeError as exc:
                    raise NotUtf8("the body is not UTF-8") from exc
                if b"\x00" in chunk:  # never in JSON text; a UTF-16 or UTF-32 body is full of them
                    raise NotUtf8("the body holds a NUL byte")
            return message

        await self.app(scope, receive_utf8, send)
