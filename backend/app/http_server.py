"""The HTTP/1.1 protocol the API is served with: uvicorn's default (httptools), with a ceiling on the request head.

uvicorn's httptools protocol reads a request head of any size (a 10 MB header is read whole and handed to the app)
and answers a URL past 64 KiB, which httptools cannot parse, with a plain-text 400. This one refuses a head (request
line and headers) that passes MAX_HEAD_BYTES while it arrives, and answers such a URL, as problem+json: 414 when the
URL is what is too long, else 431; then it closes the connection. It holds at most the ceiling and two reads of the
socket for a head. The app's own limits (app/request_limits.py) are well below the ceiling, so the app answers first,
with the CORS and request id headers; past the ceiling the app never sees the request, so this answer has the
security headers and a request id of its own but no CORS headers.

Serve with `uvicorn app.main:app --http app.http_server:HttpToolsProtocol` (app/cli.py and the image do)."""

import json
import uuid
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http import httptools_impl

from app.errors import PROBLEM_JSON
from app.request_id import HEADER as REQUEST_ID
from app.request_limits import MAX_HEADER_BYTES, MAX_URL_BYTES
from app.security_headers import FRAME_ANCESTORS, HEADERS

# Twice the app's header limit: a head this large never reaches the app.
MAX_HEAD_BYTES = 2 * MAX_HEADER_BYTES


def refusal(status: int, detail: str) -> bytes:
    """A complete HTTP/1.1 answer: a problem, with the security headers every answer has, closing the connection."""
    title = HTTPStatus(status).phrase
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    headers = {
        "Content-Type": PROBLEM_JSON,
        "Content-Length": str(len(body)),
        "Connection": "close",
        REQUEST_ID: uuid.uuid4().hex,
        **HEADERS,
        "Content-Security-Policy": FRAME_ANCESTORS,
        "Cache-Control": "no-store",
    }
    head = f"HTTP/1.1 {status} {title}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


class HttpToolsProtocol(httptools_impl.HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url = b""
        self._in_head = True  # until the headers of the current request are complete
        self._heads_begun = 0
        self._head_bytes = 0  # of the reads that held nothing but the current head

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._heads_begun += 1

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        heads_begun = self._heads_begun
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        # A read in which a request began may also hold the end of the one before: only whole reads of head count.
        self._head_bytes = self._head_bytes + len(data) if heads_begun == self._heads_begun else 0
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(self._too_large())

    def send_400_response(self, msg: str) -> None:
        """The parser refused the request: a URL too long for it is a 414, anything else a 400."""
        if len(self.url) > MAX_URL_BYTES:
            self._refuse(self._too_large())
        else:
            self._refuse((400, "The request is not valid HTTP/1.1."))

    def _too_large(self) -> tuple[int, str]:
        if len(self.url) > MAX_URL_BYTES:
            return 414, f"The URL is longer than the {MAX_URL_BYTES} bytes this API accepts."
        return 431, f"The request headers are larger than the {MAX_HEAD_BYTES} bytes this server accepts."

    def _refuse(self, answer: tuple[int, str]) -> None:
        self.logger.warning("Refused a request: %s", answer[1])
        self.transport.write(refusal(*answer))
        self.transport.close()
