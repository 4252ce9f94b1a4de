"""Every HTTP answer of the API carries the security headers: successes, errors, 304s, preflights and exports."""

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.config import Settings
from app.docs import SWAGGER_UI_CSP
from app.main import create_app
from app.models import Role
from app.security_headers import SecurityHeadersMiddleware
from app.services import incidents as incident_service
from tests.api.conftest import PASSWORD
from tests.api.helpers import API, make_incident, on_the_same_loop

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "cache-control": "no-store",
}
FRONTEND = "http://localhost:5500"


def assert_secure(response, status: int, *, hsts: bool = False) -> None:
    assert response.status_code == status, response.text
    assert {name: response.headers.get(name) for name in EXPECTED} == EXPECTED
    assert response.headers.get("strict-transport-security") == ("max-age=31536000" if hsts else None)


def test_a_token_answer_is_not_to_be_cached(anonymous, accounts):
    response = anonymous.post("/api/auth/token", data={"username": accounts[Role.VIEWER].email, "password": PASSWORD})

    assert_secure(response, 200)


def test_a_failed_sign_in_has_them_too(anonymous, accounts):
    response = anonymous.post("/api/auth/token", data={"username": accounts[Role.VIEWER].email, "password": "wrong"})

    assert_secure(response, 401)


def test_incidents_users_and_the_audit_trail_have_them(client, clients, accounts):
    incident = make_incident(client)

    assert_secure(client.get(f"{API}{incident['id']}"), 200)
    assert_secure(client.get(API), 200)
    assert_secure(clients[Role.ADMIN].get("/api/users"), 200)
    assert_secure(clients[Role.ADMIN].get("/api/audit"), 200)
    assert_secure(client.get("/api/auth/me"), 200)


def test_a_304_has_them(client):
    incident = make_incident(client)

    assert_secure(client.get(f"{API}{incident['id']}", headers={"If-None-Match": '"1"'}), 304)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        pytest.param("get", f"{API}999999", {}, 404, id="404"),
        pytest.param("post", API, {"json": {}}, 422, id="422"),
        pytest.param("put", API, {}, 405, id="405"),
        pytest.param("get", "/api/no-such-route", {}, 404, id="no-route"),
    ],
)
def test_errors_have_them(client, method, path, kwargs, status):
    assert_secure(getattr(client, method)(path, **kwargs), status)


def test_an_anonymous_401_has_them(anonymous):
    assert_secure(anonymous.get(API), 401)


def test_a_500_has_them(client, auth_headers, monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(incident_service, "list_incidents", explode)
    response = on_the_same_loop(client, raise_server_exceptions=False).get(API, headers=auth_headers(Role.VIEWER))

    assert_secure(response, 500)


def test_a_503_has_them():
    broken = create_app(Settings(database_url="sqlite:////nonexistent-dir/x.db", app_env="test", cors_origins=[]))
    with TestClient(broken, raise_server_exceptions=False) as test_client:
        response = test_client.post("/api/auth/token", data={"username": "a@example.com", "password": "whatever"})

    assert_secure(response, 503)


def test_a_cors_preflight_has_them(anonymous):
    response = anonymous.options(API, headers={"Origin": FRONTEND, "Access-Control-Request-Method": "POST"})

    assert_secure(response, 200)
    assert response.headers["access-control-allow-origin"] == FRONTEND


def test_the_csv_export_has_them(client):
    make_incident(client)

    response = client.get(f"{API}export")

    assert_secure(response, 200)
    assert response.headers["content-type"].startswith("text/csv")


def test_the_schema_has_them(anonymous):
    assert_secure(anonymous.get("/openapi.json"), 200)


def test_the_docs_page_has_them_with_its_own_policy(anonymous):
    response = anonymous.get("/docs")

    assert response.status_code == 200
    expected = {**EXPECTED, "content-security-policy": SWAGGER_UI_CSP}
    assert {name: response.headers.get(name) for name in EXPECTED} == expected
    assert "frame-ancestors 'none'" in SWAGGER_UI_CSP


def test_over_https_the_answer_asks_for_https_from_now_on(client, auth_headers):
    secure = on_the_same_loop(client, base_url="https://testserver", headers=auth_headers(Role.VIEWER))

    assert_secure(secure.get(API), 200, hsts=True)
    assert_secure(secure.get(f"{API}999999"), 404, hsts=True)


def test_behind_tls_every_answer_asks_for_https(database_url):
    behind = create_app(Settings(database_url=database_url, app_env="test", cors_origins=[], behind_tls=True))
    with TestClient(behind) as test_client:
        assert_secure(test_client.get(API), 401, hsts=True)
        assert_secure(test_client.get("/api/health"), 200, hsts=True)


def test_an_answer_that_sets_its_own_caching_keeps_it():
    async def cached(_request):
        return PlainTextResponse("x", headers={"Cache-Control": "public, max-age=60"})

    async def plain(_request):
        return PlainTextResponse("y")

    inner = Starlette(routes=[Route("/cached", cached), Route("/plain", plain)])
    with TestClient(SecurityHeadersMiddleware(inner)) as test_client:
        assert test_client.get("/cached").headers["cache-control"] == "public, max-age=60"
        assert test_client.get("/plain").headers["cache-control"] == "no-store"
        assert test_client.get("/cached").headers["x-content-type-options"] == "nosniff"
