"""Status lifecycle: the mitigated_at / resolved_at stamps on create and on every transition."""

from datetime import timedelta

import pytest

from app.models import Role
from tests.api.helpers import (
    BASE_TIME,
    as_stored,
    insert_incident,
    make_incident,
    parse_time,
    stored_incident,
)

MITIGATED_AT = BASE_TIME + timedelta(minutes=10)
RESOLVED_AT = BASE_TIME + timedelta(minutes=20)

# Incidents as they would be stored after going through each status once (BASE_TIME is the creation).
AT_STATUS = {
    "OPEN": {"status": "OPEN"},
    "MITIGATED": {"status": "MITIGATED", "mitigated_at": MITIGATED_AT, "updated_at": MITIGATED_AT},
    "RESOLVED": {
        "status": "RESOLVED",
        "mitigated_at": MITIGATED_AT,
        "resolved_at": RESOLVED_AT,
        "updated_at": RESOLVED_AT,
    },
    "RESOLVED_DIRECTLY": {
        "status": "RESOLVED",
        "mitigated_at": RESOLVED_AT,
        "resolved_at": RESOLVED_AT,
        "updated_at": RESOLVED_AT,
    },
}


def set_status(client, incident_id, status):
    response = client.patch(f"/api/incidents/{incident_id}", json={"status": status})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == status
    return body


def stamps(body):
    return parse_time(body["mitigated_at"]), parse_time(body["resolved_at"])


@pytest.mark.parametrize(
    ("status", "mitigated", "resolved"),
    [("OPEN", False, False), ("MITIGATED", True, False), ("RESOLVED", True, True)],
)
def test_create_stamps_according_to_the_initial_status(client, db_session, status, mitigated, resolved):
    body = make_incident(client, status=status)

    created_at = parse_time(body["created_at"])
    assert body["status"] == status
    assert stamps(body) == (created_at if mitigated else None, created_at if resolved else None)
    assert stored_incident(db_session, body["id"]) == as_stored(body)


def test_status_defaults_to_open_without_stamps(client):
    body = make_incident(client)

    assert (body["status"], body["mitigated_at"], body["resolved_at"]) == ("OPEN", None, None)


@pytest.mark.parametrize(
    ("start", "target", "expected_mitigated", "expected_resolved"),
    [
        pytest.param("OPEN", "MITIGATED", "now", None, id="open-to-mitigated-stamps-mitigated"),
        pytest.param("OPEN", "RESOLVED", "now", "now", id="open-to-resolved-stamps-both"),
        pytest.param("MITIGATED", "RESOLVED", MITIGATED_AT, "now", id="mitigated-to-resolved-keeps-mitigated"),
        pytest.param("MITIGATED", "OPEN", MITIGATED_AT, None, id="mitigated-to-open-keeps-mitigated"),
        pytest.param("RESOLVED", "OPEN", MITIGATED_AT, None, id="reopen-to-open-clears-resolved"),
        pytest.param("RESOLVED", "MITIGATED", MITIGATED_AT, None, id="reopen-to-mitigated-clears-resolved"),
        pytest.param("RESOLVED_DIRECTLY", "OPEN", RESOLVED_AT, None, id="reopen-directly-resolved"),
    ],
)
def test_each_transition_sets_the_stamps(
    client, db_session, refs, start, target, expected_mitigated, expected_resolved
):
    incident_id = insert_incident(db_session, **AT_STATUS[start])

    body = set_status(client, incident_id, target)

    now = parse_time(body["updated_at"])
    assert now > RESOLVED_AT  # the transition is a change, so updated_at moved to "now"
    resolve = {"now": now, None: None}
    assert stamps(body) == (resolve.get(expected_mitigated, expected_mitigated), resolve[expected_resolved])
    assert parse_time(body["created_at"]) == BASE_TIME
    assert (body["created_by"], body["updated_by"]) == (None, refs[Role.RESPONDER])
    assert stored_incident(db_session, incident_id) == as_stored(body)


@pytest.mark.parametrize("status", ["OPEN", "MITIGATED", "RESOLVED"])
def test_setting_the_current_status_again_changes_nothing(client, db_session, status):
    incident_id = insert_incident(db_session, **AT_STATUS[status])
    before = stored_incident(db_session, incident_id)

    body = set_status(client, incident_id, status)

    assert as_stored(body) == before
    assert stored_incident(db_session, incident_id) == before


def test_editing_a_resolved_incident_keeps_its_stamps(client, db_session):
    incident_id = insert_incident(db_session, **AT_STATUS["RESOLVED"])

    response = client.patch(f"/api/incidents/{incident_id}", json={"title": "Root cause found", "severity": "SEV1"})

    body = response.json()
    assert (body["status"], body["title"], body["severity"]) == ("RESOLVED", "Root cause found", "SEV1")
    assert stamps(body) == (MITIGATED_AT, RESOLVED_AT)
    assert parse_time(body["updated_at"]) > RESOLVED_AT


def test_a_full_cycle_keeps_the_first_mitigation_and_restamps_resolution(client, db_session):
    incident_id = make_incident(client)["id"]

    mitigated = set_status(client, incident_id, "MITIGATED")
    first_mitigation = parse_time(mitigated["mitigated_at"])
    assert first_mitigation == parse_time(mitigated["updated_at"])
    assert mitigated["resolved_at"] is None

    resolved = set_status(client, incident_id, "RESOLVED")
    first_resolution = parse_time(resolved["resolved_at"])
    assert stamps(resolved) == (first_mitigation, parse_time(resolved["updated_at"]))
    assert first_resolution > first_mitigation

    reopened = set_status(client, incident_id, "OPEN")
    assert stamps(reopened) == (first_mitigation, None)

    mitigated_again = set_status(client, incident_id, "MITIGATED")
    assert stamps(mitigated_again) == (first_mitigation, None)
    assert parse_time(mitigated_again["updated_at"]) > parse_time(reopened["updated_at"])

    resolved_again = set_status(client, incident_id, "RESOLVED")
    assert stamps(resolved_again) == (first_mitigation, parse_time(resolved_again["updated_at"]))
    assert parse_time(resolved_again["resolved_at"]) > first_resolution

    assert stored_incident(db_session, incident_id) == as_stored(resolved_again)
    assert client.get(f"/api/incidents/{incident_id}").json() == resolved_again


def test_status_and_other_fields_change_together(client, db_session):
    incident_id = make_incident(client)["id"]

    body = client.patch(f"/api/incidents/{incident_id}", json={"status": "RESOLVED", "description": "Fixed."}).json()

    assert (body["status"], body["description"]) == ("RESOLVED", "Fixed.")
    assert stamps(body) == (parse_time(body["updated_at"]),) * 2
    assert stored_incident(db_session, incident_id) == as_stored(body)
