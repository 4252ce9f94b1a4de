"""One email, one account, on every database: emails are normalised once (trimmed, NFC, lower-cased, the domain
IDNA-encoded), control and invisible characters are refused, and the database compares the result byte for byte,
so an accent or an invisible character never opens someone else's account (MySQL's utf8mb4_unicode_ci would ignore
both)."""

import pytest
from sqlalchemy import select

from app.models import LoginFailure, Role, User
from tests.api.conftest import PASSWORD
from tests.api.helpers import assert_invalid, assert_problem

USERS = "/api/users"
TOKEN = "/api/auth/token"
ME = "/api/auth/me"


def sign_in(client, email, password=PASSWORD):
    return client.post(TOKEN, data={"username": email, "password": password})


def signed_in_as(client, response) -> int:
    assert response.status_code == 200, response.text
    me = client.get(ME, headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    return me.json()["id"]


def new_user(email, **overrides):
    return {"email": email, "display_name": "Someone", "role": "viewer", "password": PASSWORD, **overrides}


@pytest.fixture
def admin(clients):
    return clients[Role.ADMIN]


@pytest.mark.parametrize(
    ("email", "counted_as"),
    [
        pytest.param("admin@exämple.com", "admin@xn--exmple-cua.com", id="accent-in-the-domain"),
        pytest.param("ädmin@example.com", "ädmin@example.com", id="accent-in-the-local-part"),
        pytest.param("admin@xn--exmple-cua.com", "admin@xn--exmple-cua.com", id="idna-of-another-domain"),
        pytest.param("ADMÍN@example.com", "admín@example.com", id="another-accent-in-capitals"),
    ],
)
def test_an_address_with_an_accent_is_another_address_and_does_not_sign_in(
    anonymous, accounts, db_session, email, counted_as
):
    body = assert_problem(sign_in(anonymous, email), 401)

    assert body["detail"] == "Incorrect email or password."
    db_session.rollback()
    assert db_session.scalars(select(LoginFailure.email)).all() == [counted_as]


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("admin@example.com\u200b", id="zero-width-space-after"),
        pytest.param("ad\u200bmin@example.com", id="zero-width-space-inside"),
        pytest.param("admin@example.com\x00", id="nul"),
        pytest.param("admin@example.com\u200d", id="zero-width-joiner"),
        pytest.param("\u202eadmin@example.com", id="bidi-override"),
        pytest.param("admin@example.com\u00ad", id="soft-hyphen"),
        pytest.param("admin@example.com\x1c", id="c0-that-strip-would-remove"),
        pytest.param("\x85admin@example.com", id="c1-that-strip-would-remove"),
        pytest.param("admin@example.com\n", id="line-feed"),
        pytest.param("admin@example.com\U000e0001", id="language-tag"),
    ],
)
def test_a_sign_in_email_with_an_invisible_character_is_422_naming_username(anonymous, accounts, db_session, email):
    body = assert_invalid(sign_in(anonymous, email), ("body", "username"))

    assert body["errors"][0]["type"] == "string_invisible_character"
    db_session.rollback()
    assert db_session.scalars(select(LoginFailure)).all() == []  # nothing was looked up, nor counted


@pytest.mark.parametrize(
    "email",
    ["admin@example.com\u200b", "ad\u200cmin@example.com", "admin@example.com\x00", "\u2066admin@example.com"],
)
def test_a_new_account_with_an_invisible_character_is_422_naming_email(admin, db_session, email):
    body = assert_invalid(admin.post(USERS, json=new_user(email)), ("body", "email"))

    assert body["errors"][0]["type"] == "string_invisible_character"


def test_an_address_with_an_accent_is_a_new_account_beside_the_one_without(admin, anonymous, accounts, db_session):
    response = admin.post(USERS, json=new_user("ädmin@example.com", password="another passphrase"))

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["email"] == "ädmin@example.com"
    db_session.rollback()
    assert db_session.scalars(select(User.email).order_by(User.id)).all() == [
        "admin@example.com",
        "responder@example.com",
        "viewer@example.com",
        "ädmin@example.com",
    ]
    assert signed_in_as(anonymous, sign_in(anonymous, "ädmin@example.com", "another passphrase")) == created["id"]
    assert signed_in_as(anonymous, sign_in(anonymous, "admin@example.com")) == accounts[Role.ADMIN].id
    assert_problem(sign_in(anonymous, "ädmin@example.com"), 401)  # the other account's password


@pytest.mark.parametrize(
    "typed",
    [
        "zoë@exämple.com",
        "ZOË@EXÄMPLE.COM",
        "zoe\u0308@exa\u0308mple.com",  # decomposed: e + combining diaeresis (NFC makes them ë, ä)
        "zoë@xn--exmple-cua.com",
        "Zoë@XN--EXMPLE-CUA.COM",
        "  zoë@exämple.com ",
    ],
)
def test_every_spelling_of_one_address_is_one_account(admin, anonymous, db_session, typed):
    response = admin.post(USERS, json=new_user("Zoë@Exämple.com"))
    assert response.status_code == 201, response.text
    created = response.json()

    assert created["email"] == "zoë@xn--exmple-cua.com"
    assert signed_in_as(anonymous, sign_in(anonymous, typed)) == created["id"]
    body = assert_problem(admin.post(USERS, json=new_user(typed)), 409)
    assert body["detail"] == "An account with the email zoë@xn--exmple-cua.com already exists."


def test_the_domain_is_case_insensitive_and_so_is_the_local_part(anonymous, accounts):
    """The local part's case is folded as it always was here: `Admin@` and `admin@` are one account."""
    admin_id = accounts[Role.ADMIN].id
    for typed in ("Admin@EXAMPLE.com", "ADMIN@example.com", "admin@Example.Com"):
        assert signed_in_as(anonymous, sign_in(anonymous, typed)) == admin_id


def test_failures_of_every_spelling_count_for_the_one_address(anonymous, accounts, db_session):
    spellings = ["zoë@exämple.com", "ZOË@xn--exmple-cua.com", "zoe\u0308@EXÄMPLE.com", " Zoë@exämple.com"]
    for typed in spellings:
        assert_problem(sign_in(anonymous, typed, "wrong password"), 401)

    db_session.rollback()
    assert db_session.scalars(select(LoginFailure.email)).all() == ["zoë@xn--exmple-cua.com"] * 4
