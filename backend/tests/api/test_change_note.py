"""A PATCH with a `note`: the reason goes with the change, in the change's own `updated` event (one transaction:
a refused change keeps no note either); with nothing to change it is a note of its own, the version unchanged."""

import json

from sqlalchemy import select

from app.models import LiveEvent, Role
from tests.api.helpers import API, assert_invalid, assert_problem, make_incident, stored_events, stored_incident


def test_a_status_change_with_a_note_records_both_in_one_event(client, db_session, refs):
    incident = make_incident(client)

    response = client.patch(
        f"{API}{incident['id']}",
        json={"status": "MITIGATED", "note": "  Rolled back the 14:05 deploy.\r\nErrors gone.  "},
        headers={"If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "MITIGATED"
    assert response.json()["version"] == 2
    assert "note" not in response.json()
    _created, updated = stored_events(db_session, incident["id"])
    assert updated["action"] == "updated"
    assert updated["actor"] == refs[Role.RESPONDER]
    assert updated["note"] == "Rolled back the 14:05 deploy.\nErrors gone."
    assert set(updated["changes"]) == {"status", "mitigated_at"}
    timeline = client.get(f"{API}{incident['id']}/events").json()["items"]
    assert [(item["action"], item["note"]) for item in timeline] == [
        ("created", None),
        ("updated", "Rolled back the 14:05 deploy.\nErrors gone."),
    ]


def test_a_note_with_nothing_to_change_is_added_as_a_note_and_keeps_the_version(client, db_session):
    incident = make_incident(client)

    response = client.patch(f"{API}{incident['id']}", json={"status": "OPEN", "note": "Still looking."})

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert response.json()["updated_at"] == incident["updated_at"]
    events = stored_events(db_session, incident["id"])
    assert [(e["action"], e["note"]) for e in events] == [("created", None), ("note_added", "Still looking.")]
    assert events[1]["changes"] is None


def test_a_refused_change_keeps_no_note(client, db_session):
    incident = make_incident(client)
    url = f"{API}{incident['id']}"

    stale = client.patch(url, json={"status": "RESOLVED", "note": "Done."}, headers={"If-Match": '"7"'})
    bad_commander = client.patch(url, json={"status": "RESOLVED", "commander_id": 2_000_000, "note": "Done."})

    assert stale.status_code == 412
    assert stale.json()["current"]["status"] == "OPEN"
    assert_invalid(bad_commander, ("body", "commander_id"))
    assert [event["action"] for event in stored_events(db_session, incident["id"])] == ["created"]
    assert stored_incident(db_session, incident["id"])["status"] == "OPEN"


def test_a_blank_null_or_overlong_note_is_a_422_and_changes_nothing(client, db_session):
    incident = make_incident(client)
    url = f"{API}{incident['id']}"

    for note in ("   ", None, "x" * 10_001, "bad\x00char", 5):
        assert_invalid(client.patch(url, json={"status": "MITIGATED", "note": note}), ("body", "note"))
    assert client.patch(url, json={"note": "x" * 10_000}).status_code == 200

    assert stored_incident(db_session, incident["id"])["status"] == "OPEN"
    assert [event["action"] for event in stored_events(db_session, incident["id"])] == ["created", "note_added"]


def test_a_viewer_cannot_patch_a_note(clients, db_session):
    incident = make_incident(clients[Role.RESPONDER])

    assert_problem(clients[Role.VIEWER].patch(f"{API}{incident['id']}", json={"note": "Hi"}), 403)
    assert len(stored_events(db_session, incident["id"])) == 1


def test_the_live_feed_carries_the_note_of_the_change(client, db_session):
    """The live event written with the change holds the event as the API shows it, note included."""
    incident = make_incident(client)
    client.patch(f"{API}{incident['id']}", json={"status": "RESOLVED", "note": "Fixed."})

    db_session.rollback()
    last = db_session.scalars(select(LiveEvent).order_by(LiveEvent.position.desc()).limit(1)).one()
    event = json.loads(last.event)
    assert (event["action"], event["note"], json.loads(last.incident)["status"]) == ("updated", "Fixed.", "RESOLVED")
