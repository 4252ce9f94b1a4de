"""Account management (/api/users, admins only): create, list, read, change role, name, password and activity;
the last active admin is protected."""

import asyncio
from datetime import UTC, datetime

import jsonschema
import pytest
from sqlalchemy import func, select

from app.database import create_async_db_engine, create_session_factory
from app.errors import AppError
from app.models import Role, User
from app.schemas import UserUpdate
from app.security import verify_password
from app.services import users as user_service
from tests.api.conftest import PASSWORD
from tests.api.helpers import API, assert_invalid, assert_problem, incident_payload, parse_time, stored_user
from tests.conftest import run_async

USERS = "/api/users"
USER_KEYS = {"id", "email", "display_name", "role", "is_active", "created_at", "updated_at"}
NEW_PASSWORD = "a brand new passphrase"
LAST_ADMIN = "This is the last active admin: make another admin first."
STALE_TOKEN = "This token was issued before the account's password or access changed. Sign in again."


def new_user(**overrides):
    body = {"email": "sam@example.com", "display_name": "Sam Rivera", "role": "responder", "password": NEW_PASSWORD}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def count_users(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(User)) or 0


def sign_in(client, email, password):
    return client.post("/api/auth/token", data={"username": email, "password": password})


def account_json(account, *, is_active=True):
    return {
        "id": account.id,
        "email": account.email,
        "display_name": account.display_name,
        "role": account.role.value,
        "is_active": is_active,
    }


@pytest.fixture
def admin(clients):
    return clients[Role.ADMIN]


def create(admin, **overrides):
    response = admin.post(USERS, json=new_user(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


# --- create ---------------------------------------------------------------------------------------------------


def test_create_returns_201_the_account_and_its_location_without_the_password(admin, anonymous, db_session):
    before = datetime.now(UTC)
    response = admin.post(USERS, json=new_user(email="Sam.Rivera@Example.COM", display_name="  Sam Rivera "))
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == USER_KEYS
    assert response.headers["location"] == f"{USERS}/{body['id']}"
    assert {key: body[key] for key in ("email", "display_name", "role", "is_active")} == {
        "email": "sam.rivera@example.com",
        "display_name": "Sam Rivera",
        "role": "responder",
        "is_active": True,
    }
    assert before <= parse_time(body["created_at"]) == parse_time(body["updated_at"]) <= after
    assert NEW_PASSWORD not in response.text
    assert "argon2" not in response.text
    stored = stored_user(db_session, body["id"])
    assert stored.email == "sam.rivera@example.com"
    assert stored.password_hash.startswith("$argon2id$")
    assert verify_password(NEW_PASSWORD, stored.password_hash)
    assert count_users(db_session) == 4


def test_a_new_account_can_sign_in_with_any_case_of_its_email(admin, anonymous):
    created = create(admin, email="Sam.Rivera@Example.COM", role="viewer")

    response = sign_in(anonymous, "SAM.RIVERA@example.com", NEW_PASSWORD)

    assert response.status_code == 200, response.text
    me = anonymous.get("/api/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.json() == {
        "id": created["id"],
        "email": "sam.rivera@example.com",
        "display_name": "Sam Rivera",
        "role": "viewer",
    }


@pytest.mark.parametrize("email", ["SAM@example.com", "sam@EXAMPLE.COM", "Sam@Example.Com"])
def test_an_email_taken_in_another_case_is_409(admin, db_session, email):
    create(admin)

    body = assert_problem(admin.post(USERS, json=new_user(email=email, display_name="Other")), 409)

    assert body["detail"] == "An account with the email sam@example.com already exists."
    assert count_users(db_session) == 4


def test_the_email_of_a_fixture_account_is_taken_too(admin, db_session):
    assert_problem(admin.post(USERS, json=new_user(email="Viewer@Example.com")), 409)
    assert count_users(db_session) == 3


@pytest.mark.parametrize("password", ["12345678", "p" * 128, "ü" * 128, " spaces at both ends "])
def test_passwords_of_8_to_128_characters_are_accepted_whole(admin, anonymous, password):
    create(admin, password=password)

    assert sign_in(anonymous, "sam@example.com", password).status_code == 200


def test_a_128_character_password_is_not_truncated(admin, anonymous):
    password = "".join(chr(ord("a") + i % 26) for i in range(127)) + "!"
    assert len(password) == 128
    create(admin, password=password)

    assert sign_in(anonymous, "sam@example.com", password[:-1]).status_code == 401
    assert sign_in(anonymous, "sam@example.com", password[:72]).status_code == 401  # where bcrypt would cut
    assert sign_in(anonymous, "sam@example.com", password).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "locs"),
    [
        pytest.param({"password": "1234567"}, [("body", "password")], id="password-7"),
        pytest.param({"password": "p" * 129}, [("body", "password")], id="password-129"),
        pytest.param({"password": ""}, [("body", "password")], id="password-empty"),
        pytest.param({"password": ...}, [("body", "password")], id="password-missing"),
        pytest.param({"password": None}, [("body", "password")], id="password-null"),
        pytest.param({"email": "not-an-email"}, [("body", "email")], id="email-invalid"),
        pytest.param({"email": "sam@"}, [("body", "email")], id="email-no-domain"),
        pytest.param({"email": ...}, [("body", "email")], id="email-missing"),
        pytest.param({"email": "s" * 250 + "@example.com"}, [("body", "email")], id="email-too-long"),
        pytest.param({"display_name": "   "}, [("body", "display_name")], id="display_name-blank"),
        pytest.param({"display_name": "n" * 101}, [("body", "display_name")], id="display_name-101"),
        pytest.param({"role": "superuser"}, [("body", "role")], id="role-unknown"),
        pytest.param({"role": "Admin"}, [("body", "role")], id="role-capitalised"),
        pytest.param({"is_active": False}, [("body", "is_active")], id="is_active"),
        pytest.param({"password_hash": "$argon2id$x"}, [("body", "password_hash")], id="password_hash"),
        pytest.param({"id": 99}, [("body", "id")], id="id"),
    ],
)
def test_create_refuses_invalid_bodies_and_stores_nothing(admin, db_session, overrides, locs):
    assert_invalid(admin.post(USERS, json=new_user(**overrides)), *locs)
    assert count_users(db_session) == 3


def test_a_password_is_never_echoed_in_a_422(admin):
    response = admin.post(USERS, json=new_user(password="short7!"))

    assert_invalid(response, ("body", "password"))
    assert "short7!" not in response.text


# --- list and read --------------------------------------------------------------------------------------------


def test_list_is_every_account_in_id_order(admin, accounts):
    body = admin.get(USERS).json()

    assert [{key: item[key] for key in USER_KEYS - {"created_at", "updated_at"}} for item in body["items"]] == [
        account_json(accounts[role]) for role in (Role.ADMIN, Role.RESPONDER, Role.VIEWER)
    ]
    assert all(set(item) == USER_KEYS for item in body["items"])
    assert {key: body[key] for key in ("total", "page", "limit", "pages")} == {
        "total": 3,
        "page": 1,
        "limit": 20,
        "pages": 1,
    }


def test_list_pages(admin, accounts):
    body = admin.get(USERS, params={"limit": 2, "page": 2}).json()

    assert [item["id"] for item in body["items"]] == [accounts[Role.VIEWER].id]
    assert {key: body[key] for key in ("total", "page", "limit", "pages")} == {
        "total": 3,
        "page": 2,
        "limit": 2,
        "pages": 2,
    }


@pytest.mark.parametrize(("params", "loc"), [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"page": 0}, "page")])
def test_list_refuses_bad_paging(admin, params, loc):
    assert_invalid(admin.get(USERS, params=params), ("query", loc))


def test_get_is_the_account_and_matches_the_list(admin, accounts):
    viewer = accounts[Role.VIEWER]

    body = admin.get(f"{USERS}/{viewer.id}").json()

    assert {key: body[key] for key in USER_KEYS - {"created_at", "updated_at"}} == account_json(viewer)
    assert body in admin.get(USERS).json()["items"]


def test_an_unknown_user_is_404(admin):
    assert assert_problem(admin.get(f"{USERS}/999999"), 404)["detail"] == "User 999999 not found."
    assert assert_problem(admin.patch(f"{USERS}/999999", json={"display_name": "x"}), 404)["detail"] == (
        "User 999999 not found."
    )


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "99999999999999999999999"])
@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_an_invalid_user_id_is_422(admin, method, bad_id):
    assert_invalid(
        admin.request(method, f"{USERS}/{bad_id}", json={} if method == "PATCH" else None), ("path", "user_id")
    )


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", USERS, None),
        ("POST", USERS, new_user()),
        ("GET", f"{USERS}/1", None),
        ("PATCH", f"{USERS}/1", {"role": "admin"}),
    ],
    ids=["list", "create", "get", "patch"],
)
def test_non_admins_are_403_and_change_nothing(anonymous, auth_headers, db_session, role, method, path, body):
    response = anonymous.request(method, path, json=body, headers=auth_headers(role))

    problem = assert_problem(response, 403)
    assert problem["detail"] == f"This needs the admin role; you are signed in as {role.value}."
    assert count_users(db_session) == 3
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN)) == 1


# --- change ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"display_name": "Vic Renamed"},
        {"role": "responder"},
        {"role": "admin"},
        {"display_name": "  Padded  ", "role": "viewer"},
    ],
    ids=["display_name", "role-up", "role-admin", "name-and-same-role"],
)
def test_patch_changes_only_the_fields_sent(admin, accounts, db_session, change):
    viewer = accounts[Role.VIEWER]
    before = admin.get(f"{USERS}/{viewer.id}").json()

    response = admin.patch(f"{USERS}/{viewer.id}", json=change)

    assert response.status_code == 200, response.text
    body = response.json()
    expected = {**before, **{key: value.strip() for key, value in change.items()}}
    unchanged_or_changed = USER_KEYS - {"updated_at"}
    assert {key: body[key] for key in unchanged_or_changed} == {key: expected[key] for key in unchanged_or_changed}
    assert parse_time(body["updated_at"]) > parse_time(before["updated_at"])
    assert admin.get(f"{USERS}/{viewer.id}").json() == body
    stored = stored_user(db_session, viewer.id)
    assert (stored.display_name, stored.role.value) == (body["display_name"], body["role"])


def test_an_empty_patch_changes_nothing(admin, accounts):
    viewer_url = f"{USERS}/{accounts[Role.VIEWER].id}"
    before = admin.get(viewer_url).json()

    response = admin.patch(viewer_url, json={})

    assert response.status_code == 200, response.text
    assert response.json() == before


def test_a_new_role_applies_to_the_existing_token(admin, anonymous, accounts, auth_headers):
    assert anonymous.post(API, json=incident_payload(), headers=auth_headers(Role.VIEWER)).status_code == 403

    assert admin.patch(f"{USERS}/{accounts[Role.VIEWER].id}", json={"role": "responder"}).status_code == 200

    assert anonymous.post(API, json=incident_payload(), headers=auth_headers(Role.VIEWER)).status_code == 201


def test_a_new_password_replaces_the_old_one(admin, anonymous, accounts, db_session):
    viewer = accounts[Role.VIEWER]

    response = admin.patch(f"{USERS}/{viewer.id}", json={"password": NEW_PASSWORD})

    assert response.status_code == 200, response.text
    assert NEW_PASSWORD not in response.text
    assert sign_in(anonymous, viewer.email, PASSWORD).status_code == 401
    assert sign_in(anonymous, viewer.email, NEW_PASSWORD).status_code == 200
    assert verify_password(NEW_PASSWORD, stored_user(db_session, viewer.id).password_hash)


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(admin, anonymous, accounts):
    viewer = accounts[Role.VIEWER]
    assert anonymous.get(API, headers=viewer.headers).status_code == 200

    assert admin.patch(f"{USERS}/{viewer.id}", json={"password": NEW_PASSWORD}).status_code == 200

    assert assert_problem(anonymous.get(API, headers=viewer.headers), 401)["detail"] == STALE_TOKEN
    token = sign_in(anonymous, viewer.email, NEW_PASSWORD).json()["access_token"]
    assert anonymous.get(API, headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"password": "1234567"}, "password"),
        ({"password": "p" * 129}, "password"),
        ({"password": None}, "password"),
        ({"role": None}, "role"),
        ({"role": "owner"}, "role"),
        ({"display_name": None}, "display_name"),
        ({"display_name": ""}, "display_name"),
        ({"is_active": None}, "is_active"),
        ({"is_active": "false"}, "is_active"),
        ({"is_active": 0}, "is_active"),
        ({"email": "new@example.com"}, "email"),
        ({"password_hash": "x"}, "password_hash"),
    ],
    ids=lambda value: value if isinstance(value, str) else "-".join(f"{k}={v!r}"[:20] for k, v in value.items()),
)
def test_patch_refuses_invalid_bodies_and_changes_nothing(admin, anonymous, accounts, db_session, patch, loc):
    viewer_url = f"{USERS}/{accounts[Role.VIEWER].id}"
    before = admin.get(viewer_url).json()

    assert_invalid(admin.patch(viewer_url, json=patch), ("body", loc))

    assert admin.get(viewer_url).json() == before
    assert verify_password(PASSWORD, stored_user(db_session, accounts[Role.VIEWER].id).password_hash)


def test_a_deactivated_account_loses_its_token_and_its_sign_in(admin, anonymous, accounts, auth_headers):
    viewer = accounts[Role.VIEWER]
    assert anonymous.get(API, headers=viewer.headers).status_code == 200

    response = admin.patch(f"{USERS}/{viewer.id}", json={"is_active": False})

    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert_problem(anonymous.get(API, headers=viewer.headers), 401)
    assert_problem(anonymous.get("/api/auth/me", headers=viewer.headers), 401)
    assert sign_in(anonymous, viewer.email, PASSWORD).status_code == 401

    # Active again: the account signs in anew, but the token of before the deactivation stays dead.
    assert admin.patch(f"{USERS}/{viewer.id}", json={"is_active": True}).json()["is_active"] is True
    assert assert_problem(anonymous.get(API, headers=viewer.headers), 401)["detail"] == STALE_TOKEN
    token = sign_in(anonymous, viewer.email, PASSWORD).json()["access_token"]
    assert anonymous.get(API, headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("change", [{"role": "responder"}, {"display_name": "Renamed"}, {"is_active": True}, {}])
def test_other_changes_keep_the_sessions(admin, anonymous, accounts, change):
    viewer = accounts[Role.VIEWER]

    assert admin.patch(f"{USERS}/{viewer.id}", json=change).status_code == 200

    assert anonymous.get("/api/auth/me", headers=viewer.headers).status_code == 200


# --- the last active admin ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"role": "viewer"}, {"role": "responder"}, {"is_active": False}, {"role": "viewer", "is_active": False}],
    ids=["to-viewer", "to-responder", "deactivated", "both"],
)
def test_the_last_active_admin_cannot_be_demoted_or_deactivated(admin, accounts, db_session, change):
    admin_url = f"{USERS}/{accounts[Role.ADMIN].id}"
    before = admin.get(admin_url).json()

    body = assert_problem(admin.patch(admin_url, json=change), 409)

    assert body["detail"] == LAST_ADMIN
    assert admin.get(admin_url).json() == before
    stored = stored_user(db_session, accounts[Role.ADMIN].id)
    assert (stored.role, stored.is_active) == (Role.ADMIN, True)


def test_the_last_admin_may_still_change_its_name_and_password(admin, accounts):
    response = admin.patch(
        f"{USERS}/{accounts[Role.ADMIN].id}",
        json={"display_name": "Still Admin", "password": NEW_PASSWORD, "role": "admin", "is_active": True},
    )

    assert response.status_code == 200, response.text
    assert (response.json()["display_name"], response.json()["role"]) == ("Still Admin", "admin")


@pytest.mark.parametrize("change", [{"role": "viewer"}, {"is_active": False}], ids=["demoted", "deactivated"])
def test_an_admin_can_be_demoted_or_deactivated_once_another_admin_exists(admin, accounts, change):
    second = create(admin, email="second@example.com", role="admin")
    first_url = f"{USERS}/{accounts[Role.ADMIN].id}"

    response = admin.patch(first_url, json=change)

    assert response.status_code == 200, response.text
    # Now the second admin is the last active one.
    second_headers = {
        "Authorization": "Bearer " + sign_in(admin, "second@example.com", NEW_PASSWORD).json()["access_token"]
    }
    body = assert_problem(admin.patch(f"{USERS}/{second['id']}", json=change, headers=second_headers), 409)
    assert body["detail"] == LAST_ADMIN


def test_an_inactive_admin_does_not_count_as_another_admin(admin, accounts):
    second = create(admin, email="second@example.com", role="admin")
    assert admin.patch(f"{USERS}/{second['id']}", json={"is_active": False}).status_code == 200

    body = assert_problem(admin.patch(f"{USERS}/{accounts[Role.ADMIN].id}", json={"role": "responder"}), 409)

    assert body["detail"] == LAST_ADMIN


def test_an_admin_who_demotes_itself_loses_admin_access_at_once(admin, accounts):
    create(admin, email="second@example.com", role="admin")

    assert admin.patch(f"{USERS}/{accounts[Role.ADMIN].id}", json={"role": "responder"}).status_code == 200

    assert_problem(admin.get(USERS), 403)


def test_an_inactive_admin_can_be_changed_freely(admin):
    """Demoting an admin that is already inactive does not reduce the active admins."""
    second = create(admin, email="second@example.com", role="admin")
    assert admin.patch(f"{USERS}/{second['id']}", json={"is_active": False}).status_code == 200

    response = admin.patch(f"{USERS}/{second['id']}", json={"role": "viewer"})

    assert response.status_code == 200, response.text
    assert (response.json()["role"], response.json()["is_active"]) == ("viewer", False)


def test_two_admins_removed_at_once_leave_one_active_admin(admin, accounts, database_url, db_session):
    """Two transactions at once, one demoting admin A, the other deactivating admin B: each alone is allowed, but
    the second must wait for the first to commit and then see that B has become the last active admin."""
    second = create(admin, email="second@example.com", role="admin")
    outcome: list[object] = []

    async def deactivate_second(session_factory) -> None:
        async with session_factory() as session:
            try:
                user = await user_service.get_user(session, second["id"])
                await user_service.update_user(session, user, UserUpdate(is_active=False))
                await session.commit()
                outcome.append("committed")
            except Exception as exc:
                outcome.append(exc)

    async def both_at_once() -> bool:
        engine = create_async_db_engine(database_url)
        session_factory = create_session_factory(engine)
        try:
            async with session_factory() as session:
                user = await user_service.get_user(session, accounts[Role.ADMIN].id)
                await user_service.update_user(session, user, UserUpdate(role=Role.VIEWER))  # flushed, not committed
                other = asyncio.create_task(deactivate_second(session_factory))
                done, _ = await asyncio.wait({other}, timeout=1)
                await session.commit()
            await asyncio.wait_for(other, timeout=30)
            return not done
        finally:
            await engine.dispose()

    waited_for_the_first = run_async(both_at_once())

    assert waited_for_the_first, f"the second transaction did not wait for the first: {outcome}"
    (error,) = outcome
    assert isinstance(error, AppError), error
    assert (error.status, error.detail) == (409, LAST_ADMIN)
    db_session.rollback()
    active_admins = select(User.id).where(User.role == Role.ADMIN, User.is_active.is_(True))
    assert list(db_session.scalars(active_admins)) == [second["id"]]


@pytest.mark.parametrize(
    ("email", "accepted"),
    [
        ("sam@example.com", True),
        ("sam@ops.example.internal", True),
        ("sam@testing.example.com", True),
        ("sam@example.test", False),
        ("sam@EXAMPLE.TEST", False),
        ("sam@corp.local", False),
        ("sam@host.localhost", False),
        ("sam@x.invalid", False),
        ("sam@x.onion", False),
        ("sam@in-addr.arpa", False),
        ("sam@localhost", False),
    ],
)
def test_the_schema_says_which_emails_are_accepted(admin, email, accepted):
    """The OpenAPI schema of `email` accepts exactly the addresses the server does (special-use domains)."""
    schema = admin.get("/openapi.json").json()["components"]["schemas"]["UserCreate"]["properties"]["email"]
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

    response = admin.post(USERS, json=new_user(email=email))

    assert validator.is_valid(email) is accepted
    assert response.status_code == (201 if accepted else 422), response.text
    if not accepted:
        assert_invalid(response, ("body", "email"))
