"""Archive (DELETE) and restore: an archived incident is gone for everyone, everywhere, except for an admin who
asks for it with archived=true; restoring brings it back everywhere. Nothing is deleted."""

from datetime import UTC, datetime

import pytest

from app.models import Role
from tests.api.helpers import (
    API,
    as_stored,
    assert_problem,
    make_incident,
    parse_time,
    stored_events,
    stored_incident,
)

ROLES = list(Role)
ONLY_ADMINS = "Only admins can see archived incidents."


def url(incident_id: int, tail: str = "") -> str:
    return f"/api/incidents/{incident_id}{tail}"


@pytest.fixture
def incidents(client):
    """Three incidents, oldest first: the one to archive, and two that stay. The archived one and `kept` share
    severity, status and the word "me" in the title, so every filter and search that finds one finds the other."""
    return {
        "archived": make_incident(client, title="Archive me", service="svc-a", severity="SEV1"),
        "kept": make_incident(client, title="Keep me", service="svc-b", severity="SEV1"),
        "other": make_incident(client, title="Other", service="svc-c", severity="SEV3", status="MITIGATED"),
    }


@pytest.fixture
def archived(clients, incidents):
    """The first incident, archived by the admin; returns the archive response body."""
    response = clients[Role.ADMIN].delete(url(incidents["archived"]["id"]))
    assert response.status_code == 200, response.text
    return response.json()


def page(client, **params):
    response = client.get(API, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [item["id"] for item in body["items"]], body["total"]


# --- archiving ------------------------------------------------------------------------------------------------


def test_archive_returns_the_incident_with_its_archive_stamp_and_changes_nothing_else(
    clients, incidents, db_session, refs
):
    before_incident = incidents["archived"]
    before = datetime.now(UTC)
    response = clients[Role.ADMIN].delete(url(before_incident["id"]))
    after = datetime.now(UTC)

    assert response.status_code == 200, response.text
    body = response.json()
    assert before <= parse_time(body["archived_at"]) <= after
    assert body["archived_by"] == refs[Role.ADMIN]
    assert body["version"] == before_incident["version"] + 1  # archiving changes what the incident shows
    moved = ("archived_at", "archived_by", "version")
    assert {key: value for key, value in body.items() if key not in moved} == {
        key: value for key, value in before_incident.items() if key not in moved
    }
    assert stored_incident(db_session, body["id"]) == as_stored(body)


def test_archive_keeps_the_row_and_its_history(clients, archived, db_session):
    assert stored_incident(db_session, archived["id"]) is not None
    assert [event["action"] for event in stored_events(db_session, archived["id"])] == ["created", "archived"]


# --- gone everywhere ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, ["other", "kept"], id="no-filter"),
        pytest.param({"severity": "SEV1"}, ["kept"], id="severity"),
        pytest.param({"status": "OPEN"}, ["kept"], id="status"),
        pytest.param(
            {"status": ["OPEN", "MITIGATED"], "severity": ["SEV1", "SEV3"]}, ["other", "kept"], id="both-repeated"
        ),
        pytest.param({"search": "me"}, ["kept"], id="search-shared-word"),
        pytest.param({"search": "Archive"}, [], id="search-its-title"),
        pytest.param({"search": "svc-a"}, [], id="search-its-service"),
        pytest.param({"sort_by": "title", "sort_order": "asc"}, ["kept", "other"], id="sorted"),
        pytest.param({"sort_by": "id", "sort_order": "asc", "limit": 1, "page": 1}, ["kept"], id="first-page"),
        pytest.param({"sort_by": "id", "sort_order": "asc", "limit": 1, "page": 2}, ["other"], id="second-page"),
    ],
)
@pytest.mark.parametrize("role", ROLES)
def test_an_archived_incident_is_in_no_list_and_no_total(clients, incidents, archived, role, params, expected):
    ids, total = page(clients[role], **params)

    assert ids == [incidents[name]["id"] for name in expected]
    assert total == (2 if "limit" in params else len(expected))  # a page of 1 out of the 2 live ones


@pytest.mark.parametrize(
    ("method", "tail", "body"),
    [("GET", "", None), ("PATCH", "", {"title": "x"}), ("POST", "/notes", {"text": "x"}), ("GET", "/events", None)],
    ids=["get", "patch", "note", "events"],
)
@pytest.mark.parametrize("role", ROLES)
def test_an_archived_incident_is_404_for_every_role(clients, archived, db_session, role, method, tail, body):
    """404 for every role that may use the route at all; a viewer's edit or note is refused for its role first."""
    events_before = stored_events(db_session)

    response = clients[role].request(method, url(archived["id"], tail), json=body)

    if role == Role.VIEWER and method != "GET":
        assert assert_problem(response, 403)["detail"] == "This needs the responder role; you are signed in as viewer."
    else:
        assert assert_problem(response, 404)["detail"] == f"Incident {archived['id']} not found."
    assert stored_incident(db_session, archived["id"]) == as_stored(archived)
    assert stored_events(db_session) == events_before


@pytest.mark.parametrize("tail", ["", "/events"], ids=["get", "events"])
@pytest.mark.parametrize("archived_param", ["false", "0"])
def test_an_admin_who_does_not_ask_for_archived_gets_404(clients, archived, tail, archived_param):
    response = clients[Role.ADMIN].get(url(archived["id"], tail), params={"archived": archived_param})

    assert_problem(response, 404)


# --- only for an admin who asks -------------------------------------------------------------------------------


def test_an_admin_lists_only_the_archived_with_archived_true(clients, incidents, archived):
    admin = clients[Role.ADMIN]

    body = admin.get(API, params={"archived": "true"}).json()

    assert body == {
        "items": [archived],
        "total": 1,
        "page": 1,
        "limit": 20,
        "pages": 1,
        "total_exact": True,
        "next_cursor": None,
    }
    assert page(admin, archived="true", search="me") == ([archived["id"]], 1)
    assert page(admin, archived="true", search="Keep") == ([], 0)
    assert page(admin, archived="true", severity="SEV3") == ([], 0)
    assert page(admin, archived="true", status="OPEN", severity="SEV1") == ([archived["id"]], 1)


def test_an_admin_reads_an_archived_incident_and_its_events_with_archived_true(clients, archived, refs):
    admin = clients[Role.ADMIN]

    response = admin.get(url(archived["id"]), params={"archived": "true"})
    events = admin.get(url(archived["id"], "/events"), params={"archived": "true"})

    assert response.status_code == 200, response.text
    assert response.json() == archived
    assert events.status_code == 200, events.text
    assert [(item["action"], item["actor"]) for item in events.json()["items"]] == [
        ("created", refs[Role.RESPONDER]),
        ("archived", refs[Role.ADMIN]),
    ]


def test_archived_true_also_finds_a_live_incident_for_an_admin(clients, incidents):
    kept = incidents["kept"]

    assert clients[Role.ADMIN].get(url(kept["id"]), params={"archived": "true"}).json() == kept


@pytest.mark.parametrize("which", ["archived", "kept"])
@pytest.mark.parametrize("tail", ["", "/events", "list"], ids=["get", "events", "list"])
@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
def test_other_roles_asking_for_archived_are_403(clients, incidents, archived, role, tail, which):
    target = API if tail == "list" else url(incidents[which]["id"], tail)

    response = clients[role].get(target, params={"archived": "true"})

    assert assert_problem(response, 403)["detail"] == ONLY_ADMINS


# --- restore --------------------------------------------------------------------------------------------------


def test_restore_brings_it_back_everywhere(clients, incidents, archived, db_session, refs):
    admin = clients[Role.ADMIN]
    incident_id = archived["id"]

    response = admin.post(url(incident_id, "/restore"))

    assert response.status_code == 200, response.text
    restored = response.json()
    assert (restored["archived_at"], restored["archived_by"]) == (None, None)
    # As it was before archiving, two versions on (archived, restored).
    assert restored == incidents["archived"] | {"version": incidents["archived"]["version"] + 2}
    assert stored_incident(db_session, incident_id) == as_stored(restored)
    everyone = [incidents[name]["id"] for name in ("other", "kept", "archived")]
    for role in ROLES:
        assert page(clients[role]) == (everyone, 3)
        assert page(clients[role], search="me") == ([incidents["kept"]["id"], incident_id], 2)
        assert clients[role].get(url(incident_id)).json() == restored
        assert [item["action"] for item in clients[role].get(url(incident_id, "/events")).json()["items"]] == [
            "created",
            "archived",
            "restored",
        ]
    assert page(admin, archived="true") == ([], 0)
    assert clients[Role.RESPONDER].patch(url(incident_id), json={"title": "Back"}).status_code == 200
    assert clients[Role.RESPONDER].post(url(incident_id, "/notes"), json={"text": "back"}).status_code == 201
    assert [(event["action"], event["actor"]) for event in stored_events(db_session, incident_id)] == [
        ("created", refs[Role.RESPONDER]),
        ("archived", refs[Role.ADMIN]),
        ("restored", refs[Role.ADMIN]),
        ("updated", refs[Role.RESPONDER]),
        ("note_added", refs[Role.RESPONDER]),
    ]


def test_an_incident_can_be_archived_again_after_a_restore(clients, archived, db_session):
    admin = clients[Role.ADMIN]
    assert admin.post(url(archived["id"], "/restore")).status_code == 200

    again = admin.delete(url(archived["id"]))

    assert again.status_code == 200, again.text
    assert parse_time(again.json()["archived_at"]) > parse_time(archived["archived_at"])
    assert [event["action"] for event in stored_events(db_session, archived["id"])] == [
        "created",
        "archived",
        "restored",
        "archived",
    ]


def test_restoring_a_live_incident_is_409_and_writes_nothing(clients, incidents, db_session):
    kept = incidents["kept"]
    events_before = stored_events(db_session)

    response = clients[Role.ADMIN].post(url(kept["id"], "/restore"))

    assert assert_problem(response, 409)["detail"] == f"Incident {kept['id']} is not archived."
    assert stored_incident(db_session, kept["id"]) == as_stored(kept)
    assert stored_events(db_session) == events_before


def test_archiving_an_archived_incident_is_404_and_writes_nothing(clients, archived, db_session):
    events_before = stored_events(db_session)

    response = clients[Role.ADMIN].delete(url(archived["id"]))

    assert assert_problem(response, 404)["detail"] == f"Incident {archived['id']} not found."
    assert stored_incident(db_session, archived["id"]) == as_stored(archived)
    assert stored_events(db_session) == events_before


@pytest.mark.parametrize(("method", "tail"), [("DELETE", ""), ("POST", "/restore")], ids=["archive", "restore"])
def test_archive_and_restore_of_an_unknown_incident_are_404(clients, method, tail):
    response = clients[Role.ADMIN].request(method, url(999999, tail))

    assert assert_problem(response, 404)["detail"] == "Incident 999999 not found."


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
def test_only_admins_archive_and_restore(clients, incidents, archived, db_session, role):
    kept = incidents["kept"]
    events_before = stored_events(db_session)

    assert_problem(clients[role].delete(url(kept["id"])), 403)
    assert_problem(clients[role].post(url(archived["id"], "/restore")), 403)

    assert stored_incident(db_session, kept["id"]) == as_stored(kept)
    assert stored_incident(db_session, archived["id"]) == as_stored(archived)
    assert stored_events(db_session) == events_before
