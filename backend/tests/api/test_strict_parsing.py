"""What a strict API refuses: path ids written other than in canonical decimal, and JSON bodies not in UTF-8."""

import pytest

from app.models import Role
from tests.api.helpers import API, assert_invalid, assert_problem, count_incidents, make_incident
from tests.api.test_users import USERS

# Ways to write an id that int() would read as that id.
NOT_CANONICAL = ["+{id}", "0{id}", "00{id}", " {id}", "{id} ", "+0{id}", "{wide}"]


def written_as(form: str, number: int) -> str:
    return form.format(id=number, wide="".join(chr(0xFF10 + int(digit)) for digit in str(number)))


@pytest.mark.parametrize("form", NOT_CANONICAL)
def test_an_incident_id_not_in_canonical_decimal_is_422(client, form):
    incident = make_incident(client)
    path = f"{API}{written_as(form, incident['id'])}"

    assert_invalid(client.get(path), ("path", "incident_id"))
    assert_invalid(client.patch(path, json={"status": "MITIGATED"}), ("path", "incident_id"))
    assert_invalid(client.post(f"{path}/notes", json={"text": "x"}), ("path", "incident_id"))
    assert client.get(f"{API}{incident['id']}").json()["status"] == "OPEN"


@pytest.mark.parametrize("form", NOT_CANONICAL)
def test_a_user_id_not_in_canonical_decimal_is_422(clients, accounts, form):
    path = f"{USERS}/{written_as(form, accounts[Role.VIEWER].id)}"

    assert_invalid(clients[Role.ADMIN].get(path), ("path", "user_id"))
    assert_invalid(clients[Role.ADMIN].patch(path, json={"display_name": "Renamed"}), ("path", "user_id"))


def test_a_canonical_id_is_found(client, clients, accounts):
    incident = make_incident(client)

    assert client.get(f"{API}{incident['id']}").status_code == 200
    assert clients[Role.ADMIN].get(f"{USERS}/{accounts[Role.VIEWER].id}").status_code == 200


BODY = '{"title": "Caf\u00e9 down", "service": "payments-api", "severity": "SEV2"}'


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [("latin-1", "latin-1"), ("ISO-8859-1", "latin-1"), ("utf-16", "utf-16"), ("utf-32", "utf-32"), ("ascii", "ascii")],
)
def test_a_json_body_declared_in_another_charset_is_415(client, db_session, charset, encoding):
    body = BODY.replace("\u00e9", "e") if encoding == "ascii" else BODY
    response = client.post(
        API, content=body.encode(encoding), headers={"Content-Type": f"application/json; charset={charset}"}
    )

    problem = assert_problem(response, 415)
    assert problem["detail"] == f"JSON bodies are UTF-8 (RFC 8259); charset={charset} is not accepted."
    assert count_incidents(db_session) == 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"])
def test_a_json_body_that_is_not_utf8_is_400(client, db_session, encoding):
    response = client.post(API, content=BODY.encode(encoding), headers={"Content-Type": "application/json"})

    problem = assert_problem(response, 400)
    assert problem["detail"] == "The request body could not be read: send UTF-8 JSON."
    assert count_incidents(db_session) == 0


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"'])
def test_a_utf8_body_is_read_whatever_the_case_of_its_charset(client, db_session, charset):
    response = client.post(API, content=BODY.encode(), headers={"Content-Type": f"application/json; charset={charset}"})

    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Caf\u00e9 down"


def test_every_json_body_is_held_to_utf8(client, clients, accounts, db_session):
    incident_id = make_incident(client)["id"]
    admin = clients[Role.ADMIN]
    utf16 = {"Content-Type": "application/json"}
    latin1 = {"Content-Type": "application/json; charset=latin-1"}

    for target, method, body in [
        (client, "PATCH", (f"{API}{incident_id}", '{"title": "Caf\u00e9"}')),
        (client, "POST", (f"{API}{incident_id}/notes", '{"text": "Caf\u00e9"}')),
        (
            admin,
            "POST",
            (USERS, '{"email": "a@example.com", "display_name": "A", "role": "viewer", "password": "long enough"}'),
        ),
        (admin, "PATCH", (f"{USERS}/{accounts[Role.VIEWER].id}", '{"display_name": "Caf\u00e9"}')),
        (client, "POST", ("/api/download-tickets", '{"path": "/api/incidents/export"}')),
    ]:
        path, text = body
        assert_problem(target.request(method, path, content=text.encode("utf-16"), headers=utf16), 400)
        assert_problem(target.request(method, path, content=text.encode("latin-1"), headers=latin1), 415)
    assert client.get(f"{API}{incident_id}").json()["title"] != "Caf\u00e9"
