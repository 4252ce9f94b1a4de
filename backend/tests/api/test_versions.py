"""Incident versions: the ETag of every answer with one incident, If-None-Match (304) and If-Match (412), and the
atomic check-and-write of concurrent changes."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.models import Role
from tests.api.helpers import (
    API,
    as_stored,
    assert_invalid,
    assert_problem,
    make_incident,
    stored_events,
    stored_incident,
)


def url(incident_id, tail=""):
    return f"{API}{incident_id}{tail}"


def run_together(calls):
    """Run the calls at the same moment, one thread each; their responses in order."""
    start = threading.Barrier(len(calls))

    def call(fn):
        start.wait(timeout=30)
        return fn()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(call, calls))


@pytest.fixture
def incident(client):
    return make_incident(client, description="first")


# --- version and ETag ------------------------------------------------------------------------------------------


def test_a_new_incident_is_at_version_1_with_its_etag(client, db_session):
    response = client.post(API, json={"title": "t", "service": "s", "severity": "SEV1"})

    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1
    assert response.headers["etag"] == '"1"'
    assert stored_incident(db_session, response.json()["id"])["version"] == 1


def test_each_change_raises_the_version_and_a_change_of_nothing_does_not(client, incident, db_session):
    first = client.patch(url(incident["id"]), json={"title": "Renamed"})
    same = client.patch(url(incident["id"]), json={"title": "Renamed", "description": "first"})
    second = client.patch(url(incident["id"]), json={"status": "RESOLVED"})

    assert [(r.status_code, r.json()["version"], r.headers["etag"]) for r in (first, same, second)] == [
        (200, 2, '"2"'),
        (200, 2, '"2"'),
        (200, 3, '"3"'),
    ]
    assert same.json()["updated_at"] == first.json()["updated_at"]  # moves with the version, not without it
    assert stored_incident(db_session, incident["id"]) == as_stored(second.json())


def test_a_note_does_not_change_the_version(client, incident):
    assert client.post(url(incident["id"], "/notes"), json={"text": "looking"}).status_code == 201

    response = client.get(url(incident["id"]))

    assert (response.json()["version"], response.json()["updated_at"]) == (1, incident["updated_at"])
    assert response.headers["etag"] == '"1"'


def test_archive_and_restore_raise_the_version_and_answer_its_etag(clients, incident):
    admin = clients[Role.ADMIN]

    archived = admin.delete(url(incident["id"]))
    found = admin.get(url(incident["id"]), params={"archived": "true"})
    restored = admin.post(url(incident["id"], "/restore"))

    assert [(r.status_code, r.json()["version"], r.headers["etag"]) for r in (archived, found, restored)] == [
        (200, 2, '"2"'),
        (200, 2, '"2"'),
        (200, 3, '"3"'),
    ]


def test_cors_exposes_etag_and_allows_the_conditional_and_idempotency_headers(app, incident):
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    origin = "http://127.0.0.1:5500"
    other = create_app(Settings(database_url=app.state.settings.database_url, app_env="test"))
    with TestClient(other) as browser:
        preflight = browser.options(
            url(incident["id"]),
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, if-match, if-none-match, idempotency-key",
            },
        )
        answer = browser.get(url(incident["id"]), headers={"Origin": origin})

    assert preflight.status_code == 200, preflight.text
    allowed = {name.strip().lower() for name in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"if-match", "if-none-match", "idempotency-key"} <= allowed
    assert "ETag" in answer.headers["access-control-expose-headers"].split(", ")


# --- If-None-Match ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['"1"', 'W/"1"', '"7", "1"', "*", '"x",  W/"1" ,'])
def test_if_none_match_naming_the_current_version_answers_304_without_a_body(client, incident, value):
    response = client.get(url(incident["id"]), headers={"If-None-Match": value})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"1"'


@pytest.mark.parametrize("value", ['"2"', 'W/"2"', '"1.0"', '"01"', '"a", "b"'])
def test_if_none_match_naming_another_version_answers_the_incident(client, incident, value):
    response = client.get(url(incident["id"]), headers={"If-None-Match": value})

    assert response.status_code == 200
    assert response.json() == incident
    assert response.headers["etag"] == '"1"'


def test_after_a_change_the_old_etag_no_longer_answers_304(client, incident):
    client.patch(url(incident["id"]), json={"title": "Renamed"})

    response = client.get(url(incident["id"]), headers={"If-None-Match": '"1"'})

    assert (response.status_code, response.json()["title"], response.headers["etag"]) == (200, "Renamed", '"2"')


@pytest.mark.parametrize("value", ["1", '"1', "W/1", '*, "1"', '"1" "2"', "", ",", 'w/"1"'])
def test_a_malformed_if_none_match_is_a_422_naming_it(client, incident, value):
    assert_invalid(client.get(url(incident["id"]), headers={"If-None-Match": value}), ("header", "If-None-Match"))


def test_if_none_match_is_checked_after_access_and_existence(clients, incident):
    assert_problem(clients[Role.VIEWER].get(url(incident["id"] + 1), headers={"If-None-Match": '"1"'}), 404)


# --- If-Match --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['"1"', "*", '"5", "1"', 'W/"1", "1"'])
def test_if_match_naming_the_current_version_applies_the_change(client, incident, value):
    response = client.patch(url(incident["id"]), json={"title": "Renamed"}, headers={"If-Match": value})

    assert response.status_code == 200, response.text
    assert (response.json()["title"], response.json()["version"], response.headers["etag"]) == ("Renamed", 2, '"2"')


@pytest.mark.parametrize("value", ['"2"', 'W/"1"', '"a", W/"1"', '"1.0"'])
def test_a_stale_or_weak_if_match_is_a_412_with_the_current_incident_and_changes_nothing(
    client, incident, db_session, value
):
    response = client.patch(url(incident["id"]), json={"title": "Renamed"}, headers={"If-Match": value})

    assert response.status_code == 412, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "current"}
    assert (body["status"], body["title"]) == (412, "Precondition Failed")
    assert body["current"] == incident
    assert stored_incident(db_session, incident["id"]) == as_stored(incident)
    assert [event["action"] for event in stored_events(db_session, incident["id"])] == ["created"]


def test_the_412_holds_the_incident_as_another_client_left_it(clients, client, incident, refs):
    changed = clients[Role.ADMIN].patch(url(incident["id"]), json={"severity": "SEV1"}).json()

    response = client.patch(url(incident["id"]), json={"title": "Mine"}, headers={"If-Match": '"1"'})

    assert response.status_code == 412
    assert response.json()["current"] == changed
    assert response.json()["current"]["updated_by"] == refs[Role.ADMIN]
    assert response.headers["etag"] == '"2"'


def test_without_if_match_a_patch_applies_as_before(client, incident):
    client.patch(url(incident["id"]), json={"title": "One"})

    response = client.patch(url(incident["id"]), json={"title": "Two"})

    assert (response.status_code, response.json()["title"], response.json()["version"]) == (200, "Two", 3)


@pytest.mark.parametrize("value", ["1", '"1', "W/1", '*, "1"', '"1" "2"', "", "None"])
def test_a_malformed_if_match_is_a_422_naming_it_and_changes_nothing(client, incident, db_session, value):
    response = client.patch(url(incident["id"]), json={"title": "Renamed"}, headers={"If-Match": value})

    assert_invalid(response, ("header", "If-Match"))
    assert stored_incident(db_session, incident["id"]) == as_stored(incident)


def test_if_match_on_several_header_lines_is_one_list(client, incident):
    response = client.patch(
        url(incident["id"]), json={"title": "Renamed"}, headers=[("If-Match", '"7"'), ("If-Match", '"1"')]
    )

    assert response.status_code == 200, response.text


def test_archive_and_restore_honour_if_match(clients, incident, db_session):
    admin = clients[Role.ADMIN]

    stale_archive = admin.delete(url(incident["id"]), headers={"If-Match": '"2"'})
    archive = admin.delete(url(incident["id"]), headers={"If-Match": '"1"'})
    stale_restore = admin.post(url(incident["id"], "/restore"), headers={"If-Match": '"1"'})
    restore = admin.post(url(incident["id"], "/restore"), headers={"If-Match": '"2"'})

    assert [r.status_code for r in (stale_archive, archive, stale_restore, restore)] == [412, 200, 412, 200]
    assert stale_archive.json()["current"] == incident
    assert stale_restore.json()["current"] == archive.json()
    assert restore.json()["version"] == 3
    actions = [event["action"] for event in stored_events(db_session, incident["id"])]
    assert actions == ["created", "archived", "restored"]


def test_a_stale_if_match_on_a_missing_incident_is_a_404(client):
    assert_problem(client.patch(url(999), json={"title": "x"}, headers={"If-Match": '"1"'}), 404)


# --- concurrent changes ----------------------------------------------------------------------------------------


def test_of_concurrent_patches_with_the_same_if_match_exactly_one_wins(client, incident, db_session):
    calls = [
        lambda n=n: client.patch(url(incident["id"]), json={"description": f"edit {n}"}, headers={"If-Match": '"1"'})
        for n in range(8)
    ]

    responses = run_together(calls)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 7, [response.text for response in responses]
    (winner,) = [response.json() for response in responses if response.status_code == 200]
    assert winner["version"] == 2
    for response in responses:
        if response.status_code == 412:
            assert response.json()["current"]["version"] == 2
    assert stored_incident(db_session, incident["id"]) == as_stored(winner)
    assert [event["action"] for event in stored_events(db_session, incident["id"])] == ["created", "updated"]


def test_concurrent_patches_without_if_match_all_apply_each_raising_the_version(client, incident, db_session):
    calls = [lambda n=n: client.patch(url(incident["id"]), json={"description": f"edit {n}"}) for n in range(8)]

    responses = run_together(calls)

    assert [response.status_code for response in responses] == [200] * 8
    assert sorted(response.json()["version"] for response in responses) == list(range(2, 10))
    assert stored_incident(db_session, incident["id"])["version"] == 9
    assert len(stored_events(db_session, incident["id"])) == 9
