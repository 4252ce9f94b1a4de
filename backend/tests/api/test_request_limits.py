"""Size limits: a body over MAX_BODY_BYTES is a 413 before it is read, whoever sends it and whether or not it says
its length; a URL or a header block over the app's limits is a 414 or a 431; all problem+json with the headers of
any answer. The largest valid incident fits with room. (The server's own ceiling: tests/test_http_server.py.)"""

import json
from collections.abc import Iterator

import pytest

from app.models import Role
from app.request_limits import MAX_HEADER_BYTES, MAX_URL_BYTES
from tests.api.conftest import PASSWORD
from tests.api.helpers import API, assert_problem, count_incidents, incident_payload, stored_incident
from tests.conftest import run_async

LIMIT = 1024 * 1024  # the default MAX_BODY_BYTES
CHUNK = 64 * 1024
FRONTEND = "http://localhost:5500"
TOO_LARGE = f"The request body is larger than the {LIMIT} bytes this API accepts."


def padded(body: bytes, size: int) -> bytes:
    """A JSON body of exactly `size` bytes: the same document, with spaces after it."""
    assert len(body) <= size
    return body + b" " * (size - len(body))


class CountedBody:
    """A request body handed out in chunks, counting what the app took of it."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), CHUNK):
            chunk = self.body[start : start + CHUNK]
            self.taken += len(chunk)
            yield chunk


def assert_refused_as_too_large(response) -> None:
    assert assert_problem(response, 413)["detail"] == TOO_LARGE
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["x-request-id"] == "size-check"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["connection"] == "close"  # the server reads no more of the body


HEADERS = {"Origin": FRONTEND, "X-Request-ID": "size-check", "Content-Type": "application/json"}


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "responder"])
def test_a_body_declared_over_the_limit_is_413_before_any_of_it_is_read(client, anonymous, db_session, signed_in):
    """The size is the first thing looked at, before the token: an anonymous caller gets the same 413 (not a 401
    after the body was read) and costs nothing more."""
    body = CountedBody(padded(json.dumps(incident_payload()).encode(), 50 * LIMIT))
    caller = client if signed_in else anonymous

    response = caller.post(API, content=body, headers={**HEADERS, "Content-Length": str(len(body.body))})

    assert_refused_as_too_large(response)
    assert body.taken == 0
    assert count_incidents(db_session) == 0


def test_a_body_one_byte_over_the_limit_is_413(client, db_session):
    response = client.post(API, content=padded(json.dumps(incident_payload()).encode(), LIMIT + 1), headers=HEADERS)

    assert_refused_as_too_large(response)
    assert count_incidents(db_session) == 0


def test_a_body_of_exactly_the_limit_is_read(client, db_session):
    response = client.post(API, content=padded(json.dumps(incident_payload()).encode(), LIMIT), headers=HEADERS)

    assert response.status_code == 201, response.text
    assert count_incidents(db_session) == 1


def test_a_chunked_body_of_exactly_the_limit_is_read(client, db_session):
    body = CountedBody(padded(json.dumps(incident_payload()).encode(), LIMIT))

    response = client.post(API, content=body, headers=HEADERS)

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 201, response.text
    assert count_incidents(db_session) == 1


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "responder"])
def test_a_chunked_body_over_the_limit_is_413(client, anonymous, db_session, signed_in):
    caller = client if signed_in else anonymous
    body = CountedBody(padded(json.dumps(incident_payload()).encode(), LIMIT + 1))

    response = caller.post(API, content=body, headers=HEADERS)

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_refused_as_too_large(response)
    assert count_incidents(db_session) == 0


def test_a_chunked_body_is_read_no_further_than_the_limit(app):
    """Straight through ASGI, so that the body comes in chunks as from a socket: the app stops taking them at the
    chunk that passes the limit, and answers 413."""
    chunks = CountedBody(b"[" + b"1," * (25 * LIMIT))  # 50 MB of JSON array
    sent: list[dict] = []

    async def call() -> None:
        pieces = iter(chunks)

        async def receive() -> dict:
            chunk = next(pieces, None)
            return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": API,
            "raw_path": API.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", b"application/json"),
                (b"transfer-encoding", b"chunked"),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)

    run_async(call())

    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 413
    assert json.loads(b"".join(message.get("body", b"") for message in sent[1:]))["detail"] == TOO_LARGE
    assert LIMIT < chunks.taken <= LIMIT + CHUNK


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("form", ["urlencoded", "multipart"])
def test_a_sign_in_form_over_the_limit_is_413(anonymous, accounts, form, chunked):
    email = accounts[Role.VIEWER].email
    if form == "urlencoded":
        content = f"username={email}&password={PASSWORD}&padding={'x' * LIMIT}".encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        parts = [("username", email), ("password", PASSWORD), ("padding", "x" * LIMIT)]
        content = b"".join(
            f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode() for name, value in parts
        )
        content += b"--b--\r\n"
        content_type = "multipart/form-data; boundary=b"
    body = CountedBody(content) if chunked else content

    response = anonymous.post("/api/auth/token", content=body, headers={**HEADERS, "Content-Type": content_type})

    assert_refused_as_too_large(response)


def test_a_sign_in_form_under_the_limit_still_signs_in(anonymous, accounts):
    response = anonymous.post(
        "/api/auth/token", data={"username": accounts[Role.VIEWER].email, "password": PASSWORD, "padding": "x" * 1000}
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("escaped", [False, True], ids=["utf-8", "json-escaped"])
def test_the_largest_incident_fits_well_within_the_limit(client, db_session, escaped):
    """10,000 emoji in the description (4 bytes each in UTF-8, 12 as JSON escapes), 200 in the title, 100 in the
    service: the limit leaves room for it many times over."""
    payload = incident_payload(title="\U0001f525" * 200, service="\U0001f4b3" * 100, description="\U0001f600" * 10_000)
    body = json.dumps(payload, ensure_ascii=escaped).encode()

    response = client.post(API, content=body, headers=HEADERS)

    assert response.status_code == 201, response.text
    emoji_bytes = 12 if escaped else 4
    assert 10_300 * emoji_bytes < len(body) < 10_300 * emoji_bytes + 200
    assert len(body) * 8 < LIMIT
    assert stored_incident(db_session, response.json()["id"])["description"] == "\U0001f600" * 10_000


def test_a_url_over_the_limit_is_414(anonymous):
    query = "search=" + "a" * (MAX_URL_BYTES - len(API) - len("?search=") + 1)
    assert len(API) + 1 + len(query) == MAX_URL_BYTES + 1

    response = anonymous.get(f"{API}?{query}", headers=HEADERS)

    problem = assert_problem(response, 414)
    assert problem["detail"] == f"The URL is longer than the {MAX_URL_BYTES} bytes this API accepts."
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["x-request-id"] == "size-check"


def test_a_url_at_the_limit_is_answered(client):
    query = "search=" + "a" * 100 + "&x=" + "b" * (MAX_URL_BYTES - len(API) - len("?search=&x=") - 100)
    assert len(API) + 1 + len(query) == MAX_URL_BYTES

    response = client.get(f"{API}?{query}")

    assert response.status_code == 200, response.text


def test_a_header_block_over_the_limit_is_431(anonymous):
    response = anonymous.get("/api/health", headers={**HEADERS, "X-Big": "a" * MAX_HEADER_BYTES})

    problem = assert_problem(response, 431)
    assert problem["detail"] == f"The request headers are larger than the {MAX_HEADER_BYTES} bytes this API accepts."
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["x-request-id"] == "size-check"


def test_headers_under_the_limit_are_answered(client):
    response = client.get("/api/health", headers={"X-Big": "a" * (MAX_HEADER_BYTES // 2)})

    assert response.status_code == 200, response.text
