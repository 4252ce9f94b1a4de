"""Who may call what: the route x method x role table, read from the app's own routes and checked by real requests.

Every API route declares its policy through exactly one dependency: `app.deps.public` (anyone) or an
`app.deps.RequireRole` (that role or a higher one). The table below is built from the routes, not written by hand,
so a new route is in it as soon as it exists, and a route without a policy fails the suite.
"""

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import iter_route_contexts

from app import main as app_main
from app.deps import AdminUser, Public, RequireRole, public
from app.models import Role
from tests.api.helpers import assert_problem, make_incident

# The documentation (the schema, the Swagger UI page and its files); public on purpose and not API routes.
DOCS_ROUTES = frozenset({"/docs", "/docs/assets", "/openapi.json"})
WEBSOCKET_ROUTES = frozenset({"/api/live"})
PUBLIC = "public"
CALLERS = [None, Role.VIEWER, Role.RESPONDER, Role.ADMIN]  # None: anonymous (no token)


def _dependency_calls(dependant: Any) -> Iterator[Any]:
    """Every dependency callable of a route, however deeply nested."""
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _dependency_calls(dependency)


def route_policies(route: Any) -> frozenset[Role | str]:
    """Every policy a route's dependencies declare: Roles and/or PUBLIC (a route of the app has exactly one)."""
    if getattr(route, "dependant", None) is None:  # not an API route (and not the docs): no policy at all
        return frozenset()
    found: set[Role | str] = set()
    for call in _dependency_calls(route.dependant):
        if isinstance(call, RequireRole):
            found.add(call.role)
        elif call is public:
            found.add(PUBLIC)
    return frozenset(found)


def policy_table(application: Any) -> dict[tuple[str, str], frozenset[Role | str]]:
    """(path, method) -> the policies declared, for every HTTP route of the app but the documentation's. The live
    feed's WebSocket is not an HTTP route: its first message authenticates (tests/api/test_live.py)."""
    table = {}
    for route in iter_route_contexts(application.router.routes):
        if route.path not in DOCS_ROUTES and route.path not in WEBSOCKET_ROUTES:
            for method in sorted(route.methods or {"*"}):
                table[(route.path, method)] = route_policies(route)
    return table


def the_policy(path: str, method: str, policies: frozenset[Role | str]) -> Role | str:
    """The one policy of a route; a route with none, or with several different ones, fails naming the route."""
    assert policies, f"{method} {path} declares no policy: depend on app.deps.Public or a RequireRole (ViewerUser, ...)"
    assert len(policies) == 1, f"{method} {path} declares several policies: {sorted(map(str, policies))}"
    return next(iter(policies))


# Built from the application module's own app when the tests are collected, so each cell is a test of its own.
ROUTE_TABLE = policy_table(app_main.app)
ROUTE_METHODS = sorted(ROUTE_TABLE)
# The size of the route x method x role table (roles: viewer, responder, admin and anonymous): 18 x 4 = 72.
ROLE_TABLE_SIZE = len(ROUTE_METHODS) * len(CALLERS)


def caller_id(caller: Role | None) -> str:
    return "anonymous" if caller is None else caller.value


def test_the_table_is_the_routes_of_the_app_under_test(app):
    """The collected table (from app.main.app) is exactly the routes of the app the requests go to."""
    assert sorted(policy_table(app)) == ROUTE_METHODS


def test_the_docs_routes_are_the_only_routes_left_out(app):
    paths = {route.path for route in iter_route_contexts(app.router.routes)}

    assert paths >= DOCS_ROUTES
    assert {path for path, _method in ROUTE_METHODS}.isdisjoint(DOCS_ROUTES)


@pytest.mark.parametrize(("path", "method"), ROUTE_METHODS, ids=[f"{m} {p}" for p, m in ROUTE_METHODS])
def test_every_api_route_declares_exactly_one_policy(path, method):
    the_policy(path, method, ROUTE_TABLE[(path, method)])


def test_the_expected_policies():
    """The policies themselves, as the issue describes them (a reviewable summary of the table)."""
    table = ROUTE_TABLE
    expected = {
        ("/api/health", "GET"): PUBLIC,
        ("/api/auth/token", "POST"): PUBLIC,
        ("/api/auth/me", "GET"): Role.VIEWER,
        ("/api/incidents", "GET"): Role.VIEWER,
        ("/api/incidents/", "GET"): Role.VIEWER,
        ("/api/incidents", "POST"): Role.RESPONDER,
        ("/api/incidents/", "POST"): Role.RESPONDER,
        ("/api/incidents/{incident_id}", "GET"): Role.VIEWER,
        ("/api/incidents/{incident_id}", "PATCH"): Role.RESPONDER,
        ("/api/incidents/{incident_id}", "DELETE"): Role.ADMIN,
        ("/api/incidents/{incident_id}/restore", "POST"): Role.ADMIN,
        ("/api/incidents/{incident_id}/events", "GET"): Role.VIEWER,
        ("/api/incidents/{incident_id}/notes", "POST"): Role.RESPONDER,
        ("/api/users", "GET"): Role.ADMIN,
        ("/api/users", "POST"): Role.ADMIN,
        ("/api/users/{user_id}", "GET"): Role.ADMIN,
        ("/api/users/{user_id}", "PATCH"): Role.ADMIN,
        ("/api/people", "GET"): Role.VIEWER,
        ("/api/audit", "GET"): Role.ADMIN,
        ("/api/metrics", "GET"): Role.VIEWER,
        ("/api/incidents/export", "GET"): Role.VIEWER,
        ("/api/audit/export", "GET"): Role.ADMIN,
        ("/api/download-tickets", "POST"): Role.VIEWER,
    }

    assert table == {key: frozenset({policy}) for key, policy in expected.items()}


def test_no_route_changes_or_removes_an_event():
    """The audit trail is append-only: events are only ever read (GET) through the API."""
    writable = [
        (method, path)
        for path, method in ROUTE_METHODS
        if ("event" in path or "audit" in path) and method not in ("GET", "HEAD")
    ]
    assert writable == []


def fill_path(path: str, ids: dict[str, int]) -> str:
    params = {name: value for name, value in ids.items() if "{" + name + "}" in path}
    url = path.format(**params)
    assert "{" not in url, f"no id to fill in {path}: add its parameter to the role table test"
    return url


def request_body(method: str) -> dict[str, Any] | None:
    # Any body will do: an allowed caller may get a 422, but never a 401 or 403.
    return {} if method in ("POST", "PATCH", "PUT") else None


@pytest.mark.parametrize("caller", CALLERS, ids=caller_id)
@pytest.mark.parametrize(("path", "method"), ROUTE_METHODS, ids=[f"{m} {p}" for p, m in ROUTE_METHODS])
def test_role_table(client, anonymous, accounts, auth_headers, path, method, caller):
    policy = the_policy(path, method, ROUTE_TABLE[(path, method)])
    incident_id = make_incident(client)["id"]
    url = fill_path(path, {"incident_id": incident_id, "user_id": accounts[Role.VIEWER].id})
    headers = {} if caller is None else auth_headers(caller)

    response = anonymous.request(method, url, json=request_body(method), headers=headers)

    if policy == PUBLIC or (caller is not None and caller.rank >= policy.rank):
        assert response.status_code not in (401, 403), f"{caller_id(caller)} {method} {url}: {response.text}"
    elif caller is None:
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    else:
        assert_problem(response, 403)


# Each operation on an id that does not exist, and on one that is archived: without a token the answer is 401,
# never a 404 that would tell an anonymous caller which incidents exist.
@pytest.mark.parametrize("which", ["unknown", "archived"])
@pytest.mark.parametrize(
    ("path", "method"),
    [(path, method) for path, method in ROUTE_METHODS if "{" in path and PUBLIC not in ROUTE_TABLE[(path, method)]],
    ids=[f"{m} {p}" for p, m in ROUTE_METHODS if "{" in p and PUBLIC not in ROUTE_TABLE[(p, m)]],
)
def test_anonymous_is_401_before_any_lookup(client, anonymous, auth_headers, path, method, which):
    incident_id = make_incident(client)["id"]
    if which == "archived":
        assert client.delete(f"/api/incidents/{incident_id}", headers=auth_headers(Role.ADMIN)).status_code == 200
    else:
        incident_id = 999_999
    url = fill_path(path, {"incident_id": incident_id, "user_id": 999_999})

    response = anonymous.request(method, url, json=request_body(method))

    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


# --- the table builder itself can fail ------------------------------------------------------------------------


def test_the_policy_reader_refuses_a_route_with_none_or_two_different_policies():
    rogue = FastAPI()

    @rogue.get("/rogue", dependencies=[Public])
    def both(_admin: AdminUser) -> None: ...

    @rogue.get("/nobody")
    def nothing(_unused: Annotated[None, Depends(lambda: None)] = None) -> None: ...

    @rogue.get("/twice")
    def twice(_admin: AdminUser, _also: Annotated[object, Depends(RequireRole(Role.ADMIN))]) -> None: ...

    rogue.add_route("/plain", lambda _request: None)
    table = policy_table(rogue)

    with pytest.raises(AssertionError, match=r"GET /rogue declares several policies: \['admin', 'public'\]"):
        the_policy("/rogue", "GET", table[("/rogue", "GET")])
    with pytest.raises(AssertionError, match="GET /nobody declares no policy"):
        the_policy("/nobody", "GET", table[("/nobody", "GET")])
    with pytest.raises(AssertionError, match="GET /plain declares no policy"):
        the_policy("/plain", "GET", table[("/plain", "GET")])
    assert the_policy("/twice", "GET", table[("/twice", "GET")]) == Role.ADMIN  # the same policy twice is one
