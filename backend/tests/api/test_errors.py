"""Cross-cutting behaviour: one problem+json error shape, no leaks on 500, 503 when the database does not answer,
OpenAPI declarations, CORS, health."""

import logging
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.config import Settings
from app.main import create_app
from app.models import Role
from app.security import create_access_token
from app.services import incidents as incident_service
from tests.api.helpers import (
    API,
    PROBLEM_JSON,
    UNREACHABLE_DATABASES,
    assert_invalid,
    assert_problem,
    count_incidents,
    incident_payload,
    make_incident,
    on_the_same_loop,
)

# --- the error shape ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        pytest.param("GET", "/api/incidents/999999", {}, 404, id="unknown-incident"),
        pytest.param("GET", "/api/no-such-route", {}, 404, id="unknown-route"),
        pytest.param("PUT", "/api/incidents/1", {}, 405, id="method-not-allowed"),
        pytest.param("GET", API, {"params": {"limit": 0}}, 422, id="bad-query"),
        pytest.param("POST", API, {"json": {}}, 422, id="bad-body"),
        pytest.param("GET", "/api/incidents/abc", {}, 422, id="bad-path"),
    ],
)
def test_every_error_is_a_problem_with_exactly_the_documented_keys(client, method, path, kwargs, status):
    body = assert_problem(client.request(method, path, **kwargs), status)

    assert body["type"] == "about:blank"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        pytest.param("PUT", "/api/incidents/1", "DELETE, GET, PATCH", id="incident"),
        pytest.param("PUT", API, "GET, POST", id="collection"),
        pytest.param("DELETE", "/api/incidents", "GET, POST", id="collection-without-slash"),
        pytest.param("GET", "/api/incidents/1/restore", "POST", id="restore"),
        pytest.param("DELETE", "/api/incidents/1/events", "GET", id="events"),
        pytest.param("GET", "/api/incidents/1/notes", "POST", id="notes"),
        pytest.param("DELETE", "/api/users", "GET, POST", id="users"),
        pytest.param("DELETE", "/api/users/1", "GET, PATCH", id="user"),
        pytest.param("POST", "/api/people", "GET", id="people"),
        pytest.param("DELETE", "/api/audit", "GET", id="audit"),
        pytest.param("GET", "/api/auth/token", "POST", id="token"),
        pytest.param("POST", "/api/auth/me", "GET", id="me"),
        pytest.param("POST", "/api/health", "GET", id="health"),
    ],
)
def test_a_405_lists_every_method_the_path_allows(client, method, path, allowed):
    response = client.request(method, path)

    assert_problem(response, 405)
    assert response.headers["allow"] == allowed


def test_a_422_names_every_missing_field_and_explains_it(client, db_session):
    body = assert_invalid(client.post(API, json={}), ("body", "title"), ("body", "service"), ("body", "severity"))

    assert body["title"] == "Validation failed"
    assert all(error["type"] == "missing" for error in body["errors"])
    assert count_incidents(db_session) == 0


def test_a_404_says_which_incident(client):
    response = client.get("/api/incidents/424242")

    assert assert_problem(response, 404)["detail"] == "Incident 424242 not found."


def test_a_500_is_a_problem_that_reveals_no_internals(app, client, auth_headers, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(incident_service, "list_incidents", explode)
    response = on_the_same_loop(client, raise_server_exceptions=False).get(API, headers=auth_headers(Role.VIEWER))

    body = assert_problem(response, 500)
    assert body["title"] == "Internal Server Error"
    assert "secret" not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text


INTERNAL_ERROR = {
    "type": "about:blank",
    "title": "Internal Server Error",
    "status": 500,
    "detail": "The server could not complete the request.",
}
FRONTEND = "http://localhost:5500"


@pytest.mark.parametrize("sent", ["trace-500", None], ids=["id-sent", "no-id-sent"])
def test_a_500_carries_the_cors_headers_and_the_request_id(app, client, auth_headers, monkeypatch, caplog, sent):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(incident_service, "list_incidents", explode)
    headers = {**auth_headers(Role.VIEWER), "Origin": FRONTEND, **({"X-Request-ID": sent} if sent else {})}
    with caplog.at_level(logging.ERROR, logger="app.errors"):
        response = on_the_same_loop(client, raise_server_exceptions=False).get(API, headers=headers)

    assert assert_problem(response, 500) == INTERNAL_ERROR
    assert "secret" not in response.text
    assert response.headers["access-control-allow-origin"] == FRONTEND
    request_id = response.headers["x-request-id"]
    if sent:
        assert request_id == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id
    [record] = [record for record in caplog.records if record.name == "app.errors"]
    assert record.levelno == logging.ERROR
    assert request_id in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "secret internals"


def test_a_database_error_that_is_not_a_lost_connection_stays_a_500(app, client, auth_headers, monkeypatch):
    async def query_a_missing_table(session, *_args, **_kwargs):
        await session.execute(text("SELECT * FROM no_such_table"))  # SQLite: OperationalError; MySQL: ProgrammingError

    monkeypatch.setattr(incident_service, "list_incidents", query_a_missing_table)
    response = on_the_same_loop(client, raise_server_exceptions=False).get(API, headers=auth_headers(Role.VIEWER))

    assert assert_problem(response, 500) == INTERNAL_ERROR
    assert "no_such_table" not in response.text
    assert "retry-after" not in response.headers


# --- a database that does not answer --------------------------------------------------------------------------

UNAVAILABLE = {
    "type": "about:blank",
    "title": "Service Unavailable",
    "status": 503,
    "detail": "The database is not answering. Try again shortly; a create sent again with the same Idempotency-Key "
    "is never done twice.",
}


@pytest.fixture(params=UNREACHABLE_DATABASES)
def unreachable(request):
    """An app whose database cannot be reached, and a valid token for it (its account cannot be looked up)."""
    broken = create_app(Settings(database_url=request.param, app_env="test", cors_origins=[]))
    token = create_access_token("1", broken.state.settings.secret_key, timedelta(hours=1))
    with TestClient(broken, raise_server_exceptions=False) as test_client:
        yield test_client, {"Authorization": f"Bearer {token}"}


def assert_unavailable(response):
    assert assert_problem(response, 503) == UNAVAILABLE
    assert response.headers["retry-after"] == "5"
    for internal in ("nonexistent", "127.0.0.1", "sqlite", "mysql", "OperationalError"):
        assert internal not in response.text


def test_a_signed_in_request_is_503_when_the_database_does_not_answer(unreachable):
    broken, token = unreachable

    response = broken.get(API, headers={**token, "Origin": FRONTEND, "X-Request-ID": "db-down-1"})

    assert_unavailable(response)
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert response.headers["x-request-id"] == "db-down-1"


def test_sign_in_is_503_when_the_database_does_not_answer(unreachable):
    broken, _token = unreachable

    response = broken.post("/api/auth/token", data={"username": "admin@example.com", "password": "whatever"})

    assert_unavailable(response)


# --- health ---------------------------------------------------------------------------------------------------


def test_health_is_ok_when_the_database_answers(client):
    response = client.get("/api/health")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_does_not_answer(unreachable):
    broken, _token = unreachable

    assert_unavailable(broken.get("/api/health"))


# --- OpenAPI --------------------------------------------------------------------------------------------------

# Every operation of the schema and exactly the error statuses it declares (read from routes/*.py), besides
# EVERY_OPERATION. Sign-in also answers 400 to a form it cannot parse (see
# test_openapi_declares_the_status_a_malformed_body_gets), so it must declare it like every other operation that
# reads a body. A JSON body declared in another charset than UTF-8 is a 415 (tests/api/test_strict_parsing.py). Every
# operation that reads a body can answer 413 (tests/api/test_request_limits.py).
DECLARED_ERRORS = {
    ("/api/health", "get"): {"503"},
    ("/api/auth/token", "post"): {"400", "413", "401", "422", "429"},
    ("/api/auth/me", "get"): {"401"},
    ("/api/incidents/", "get"): {"401", "403", "422"},
    ("/api/incidents/", "post"): {"400", "413", "415", "401", "403", "409", "422"},
    ("/api/incidents/{incident_id}", "get"): {"401", "403", "404", "422"},
    ("/api/incidents/{incident_id}", "patch"): {"400", "413", "415", "401", "403", "404", "412", "422"},
    ("/api/incidents/{incident_id}", "delete"): {"401", "403", "404", "412", "422"},
    ("/api/incidents/{incident_id}/restore", "post"): {"401", "403", "404", "409", "412", "422"},
    ("/api/incidents/{incident_id}/events", "get"): {"401", "403", "404", "422"},
    ("/api/incidents/{incident_id}/notes", "post"): {"400", "413", "415", "401", "403", "404", "409", "422"},
    ("/api/users", "get"): {"401", "403", "422"},
    ("/api/users", "post"): {"400", "413", "415", "401", "403", "409", "422"},
    ("/api/users/{user_id}", "get"): {"401", "403", "404", "422"},
    ("/api/users/{user_id}", "patch"): {"400", "413", "415", "401", "403", "404", "409", "422"},
    ("/api/people", "get"): {"401", "403", "422"},
    ("/api/metrics", "get"): {"401", "403", "422"},
    ("/api/audit", "get"): {"401", "403", "422"},
    ("/api/incidents/export", "get"): {"401", "403", "422"},
    ("/api/audit/export", "get"): {"401", "403", "422"},
    ("/api/download-tickets", "post"): {"400", "413", "415", "401", "403", "422"},
}
# What any operation can answer: 414 and 431 (a URL or headers over the limits), 500 (something unexpected) and 503
# (the database does not answer).
EVERY_OPERATION = {"414", "431", "500", "503"}
# The operations anyone may call; every other one needs the bearer token.
PUBLIC_OPERATIONS = {("/api/health", "get"), ("/api/auth/token", "post")}


@pytest.fixture
def openapi(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_openapi_lists_exactly_the_public_operations(openapi):
    operations = {(path, method) for path, item in openapi["paths"].items() for method in item}

    assert operations == set(DECLARED_ERRORS)


@pytest.mark.parametrize(("path", "method"), list(DECLARED_ERRORS))
def test_openapi_declares_each_error_as_a_problem(openapi, path, method):
    responses = openapi["paths"][path][method]["responses"]

    errors = {status for status in responses if int(status) >= 400}
    assert errors == DECLARED_ERRORS[(path, method)] | EVERY_OPERATION
    for status in errors:
        schema = "PreconditionFailedProblem" if status == "412" else "Problem"  # a 412 also holds `current`
        assert responses[status]["content"] == {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def test_every_operation_of_the_app_declares_414_431_500_and_503_as_problems(app):
    operations = [
        (path, method, operation) for path, item in app.openapi()["paths"].items() for method, operation in item.items()
    ]

    assert operations
    for path, method, operation in operations:
        for status in EVERY_OPERATION:
            declared = operation["responses"].get(status)
            assert declared is not None, f"{method.upper()} {path} does not declare {status}"
            assert declared["content"] == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_the_answers_that_say_when_to_retry_declare_retry_after(app):
    declared = {
        (path, method, status): response.get("headers")
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
    }

    retry_after = {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    etag = {
        "ETag": {
            "description": 'The incident\'s version, quoted (`"3"`): a strong entity tag.',
            "schema": {"type": "string"},
        }
    }
    # The answers that carry one incident, or say it has not changed.
    with_etag = {
        ("/api/incidents/", "post", "201"),
        ("/api/incidents/{incident_id}", "get", "200"),
        ("/api/incidents/{incident_id}", "get", "304"),
        ("/api/incidents/{incident_id}", "patch", "200"),
        ("/api/incidents/{incident_id}", "delete", "200"),
        ("/api/incidents/{incident_id}/restore", "post", "200"),
    }
    assert declared[("/api/auth/token", "post", "429")] == retry_after
    for (path, method, status), headers in declared.items():
        expected = retry_after if status in ("429", "503") else etag if (path, method, status) in with_etag else None
        assert headers == expected, f"{method.upper()} {path} {status}"


@pytest.mark.parametrize(("path", "method"), list(DECLARED_ERRORS))
def test_openapi_says_which_operations_need_the_bearer_token(openapi, path, method):
    security = openapi["paths"][path][method].get("security")

    if (path, method) in PUBLIC_OPERATIONS:
        assert security is None
    else:
        assert security == [{"OAuth2PasswordBearer": []}]
    assert openapi["components"]["securitySchemes"] == {
        "OAuth2PasswordBearer": {"type": "oauth2", "flows": {"password": {"scopes": {}, "tokenUrl": "/api/auth/token"}}}
    }


# (schema path, method, URL, content type): every operation that reads a body.
BODY_OPERATIONS = [
    pytest.param("/api/incidents/", "post", "/api/incidents/", "application/json", id="create-incident"),
    pytest.param(
        "/api/incidents/{incident_id}",
        "patch",
        "/api/incidents/{incident_id}",
        "application/json",
        id="update-incident",
    ),
    pytest.param(
        "/api/incidents/{incident_id}/notes",
        "post",
        "/api/incidents/{incident_id}/notes",
        "application/json",
        id="add-note",
    ),
    pytest.param("/api/users", "post", "/api/users", "application/json", id="create-user"),
    pytest.param("/api/users/{user_id}", "patch", "/api/users/{user_id}", "application/json", id="update-user"),
    pytest.param("/api/auth/token", "post", "/api/auth/token", "multipart/form-data", id="sign-in"),
]


@pytest.mark.parametrize(("path", "method", "url", "content_type"), BODY_OPERATIONS)
@pytest.mark.parametrize("content", [b"{not json", b'{"title": "\xff\xfe"}', b"\xff\xfe\x00"])
def test_openapi_declares_the_status_a_malformed_body_gets(
    client, accounts, auth_headers, openapi, path, method, url, content_type, content
):
    incident_id = make_incident(client)["id"]
    target = url.format(incident_id=incident_id, user_id=accounts[Role.VIEWER].id)

    response = client.request(
        method.upper(), target, content=content, headers={"content-type": content_type, **auth_headers(Role.ADMIN)}
    )

    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code)
    assert str(response.status_code) in openapi["paths"][path][method]["responses"]


def test_openapi_problem_schema_and_every_reference_resolve(openapi):
    schemas = openapi["components"]["schemas"]
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"title", "status", "detail"}
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    all_refs = set(refs(openapi))
    assert "#/components/schemas/FieldError" in all_refs
    for ref in all_refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_docs_page_is_served(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<div id="swagger-ui" data-openapi-url="/openapi.json"></div>' in response.text


# --- CORS -----------------------------------------------------------------------------------------------------


def preflight(client, origin, method="POST"):
    return client.options(
        API,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


@pytest.mark.parametrize("origin", ["http://localhost:5500", "http://127.0.0.1:5500"])
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_preflight_from_the_frontend_is_allowed(client, origin, method):
    response = preflight(client, origin, method)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert method in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


def test_preflight_allows_the_token_and_the_request_id_headers(client):
    response = client.options(
        API,
        headers={
            "Origin": "http://localhost:5500",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
        },
    )

    assert response.status_code == 200, response.text
    allowed = {name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-request-id"} <= allowed


def test_preflight_allows_the_version_and_the_idempotency_headers(client):
    response = client.options(
        API,
        headers={
            "Origin": "http://localhost:5500",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, if-match, idempotency-key",
        },
    )

    assert response.status_code == 200, response.text
    allowed = {name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "if-match", "idempotency-key"} <= allowed


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:5501", "https://localhost:5500"])
def test_preflight_from_another_origin_is_not_allowed(client, origin):
    response = preflight(client, origin)

    assert "access-control-allow-origin" not in response.headers


def test_a_cross_origin_create_exposes_the_location_header(client, db_session):
    response = client.post(API, json=incident_payload(), headers={"Origin": "http://localhost:5500"})

    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == "http://localhost:5500"
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"location", "x-request-id", "retry-after", "etag"} <= exposed
    assert count_incidents(db_session) == 1


def test_a_request_from_another_origin_gets_no_cors_headers(client):
    response = client.get(API, headers={"Origin": "http://evil.example"})

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
