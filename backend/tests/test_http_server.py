"""The limits on a real uvicorn process served as `make run` serves it (app/cli.py): URLs and headers over the app's
limits or over the server's own ceiling get a problem+json 414 or 431, never the server's plain-text 400 nor a 200;
a head far past the ceiling is refused before it has been read; a body over MAX_BODY_BYTES is a 413 whether it
declares its length or comes chunked."""

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import HTTP_PROTOCOL
from app.http_server import MAX_HEAD_BYTES
from app.request_limits import MAX_HEADER_BYTES, MAX_URL_BYTES
from tests.conftest import migrate
from tests.e2e.conftest import free_port, start, stop

BACKEND_DIR = Path(__file__).resolve().parents[1]
FRONTEND = "http://127.0.0.1:5500"
LIMIT = 1024 * 1024
PROBLEM_JSON = "application/problem+json"
SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "cache-control": "no-store",
}
BY_THE_SERVER = f"The request headers are larger than the {MAX_HEAD_BYTES} bytes this server accepts."


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    directory = tmp_path_factory.mktemp("http-server")
    database_url = f"sqlite:///{directory / 'api.db'}"
    migrate(database_url)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "APP_ENV": "test", "FIRST_ADMIN_EMAIL": "", "CORS_ORIGINS": ""}
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--http", HTTP_PROTOCOL]
    url = f"http://127.0.0.1:{port}/api/health"
    process = start(command, cwd=BACKEND_DIR, env=env, ready_url=url, log=directory / "api.log")
    yield port
    stop(process)


class Answer:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])}
        self.body = self.body[: int(self.headers.get("content-length", len(self.body)))]

    def problem(self, status: int) -> dict:
        assert self.status == status, (self.status, self.body[:200])
        assert self.headers["content-type"] == PROBLEM_JSON
        assert {name: self.headers.get(name) for name in SECURITY} == SECURITY
        assert self.headers["x-request-id"]
        body = json.loads(self.body)
        assert set(body) == {"type", "title", "status", "detail"}
        assert body["status"] == status
        return body


def read_answer(sock: socket.socket) -> Answer:
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    length = int(head.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(raw.split(b"\r\n\r\n", 1)[1]) < length:
        raw += sock.recv(65536)
    return Answer(raw)


def send(port: int, head: bytes, body: Iterator[bytes] | None = None, chunk: int = 64 * 1024) -> tuple[Answer, int]:
    """Sends the request in pieces of `chunk` bytes until the server answers or stops reading; returns the answer
    and how many bytes went out."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            for piece in (head[start : start + chunk] for start in range(0, len(head), chunk)):
                sock.sendall(piece)
                sent += len(piece)
            for piece in body or ():
                sock.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_answer(sock), sent


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", f"Origin: {FRONTEND}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("size", [MAX_HEADER_BYTES + 1, 100_000, MAX_HEAD_BYTES * 4])
def test_headers_over_the_limits_are_a_431_problem(port, size):
    answer, _ = send(port, get("/api/health", f"X-Big: {'a' * size}"))

    detail = answer.problem(431)["detail"]
    by_the_app = f"The request headers are larger than the {MAX_HEADER_BYTES} bytes this API accepts."
    if size < MAX_HEAD_BYTES:  # the app answers, with CORS
        assert detail == by_the_app
        assert answer.headers["access-control-allow-origin"] == FRONTEND
    else:  # the server, unless the whole head came in one read
        assert detail in (by_the_app, BY_THE_SERVER)


@pytest.mark.parametrize("size", [MAX_URL_BYTES + 1, 40_000, 100_000, MAX_HEAD_BYTES * 4])
def test_a_url_over_the_limits_is_a_414_problem(port, size):
    path = "/api/health?x=" + "a" * (size - len("/api/health?x="))

    answer, _ = send(port, get(path))

    assert answer.problem(414)["detail"] == f"The URL is longer than the {MAX_URL_BYTES} bytes this API accepts."


def test_a_head_far_past_the_ceiling_is_refused_before_it_is_read(port):
    answer, sent = send(port, get("/api/health", f"X-Big: {'a' * (100 * 1024 * 1024)}"), chunk=16 * 1024)

    assert answer.problem(431)["detail"] == BY_THE_SERVER
    assert sent < 100 * 1024 * 1024 // 10


def test_headers_and_a_url_under_the_limits_are_answered(port):
    answer, _ = send(port, get("/api/health?x=" + "a" * 4000, f"X-Big: {'a' * 16_000}"))

    assert answer.status == 200
    assert json.loads(answer.body) == {"status": "ok", "database": "ok"}


def post_head(*headers: str) -> bytes:
    lines = ["POST /api/incidents/ HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def fifty_megabytes(chunked: bool) -> Iterator[bytes]:
    piece = b"1," * (32 * 1024)
    for _ in range(50 * 1024 * 1024 // len(piece)):
        yield b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_anonymous_50_mb_body_is_a_413_problem(port, chunked):
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {50 * 1024 * 1024}"

    answer, _ = send(port, post_head(framing), fifty_megabytes(chunked))

    assert answer.problem(413)["detail"] == f"The request body is larger than the {LIMIT} bytes this API accepts."
    assert answer.headers["connection"] == "close"


def test_a_request_the_parser_refuses_is_a_400_problem(port):
    answer, _ = send(port, b"NOT HTTP AT ALL\r\n\r\n")

    assert answer.problem(400)["detail"] == "The request is not valid HTTP/1.1."
