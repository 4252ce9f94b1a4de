"""Sign-in and bearer tokens: what opens the API, and every way a token can be refused (401, problem+json,
`WWW-Authenticate: Bearer`); the throttle on failed sign-ins; the signed-in account (`/api/auth/me`)."""

import base64
import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app import security
from app.config import Settings
from app.database import utcnow
from app.main import create_app
from app.models import LoginFailure, Role, User
from app.security import create_access_token, verify_password
from app.services import users as user_service
from tests.api.conftest import PASSWORD, Account
from tests.api.helpers import API, assert_problem
from tests.conftest import clear_tables

ME = "/api/auth/me"
TOKEN = "/api/auth/token"
LIFETIME_SECONDS = 480 * 60  # ACCESS_TOKEN_MINUTES defaults to 480
SIGN_IN_FIRST = "Sign in first: this needs a bearer token."
INVALID_TOKEN = "The access token is invalid or has expired. Sign in again."
NO_ACCOUNT = "The account behind this token does not exist or is disabled."
STALE_TOKEN = "This token was issued before the account's password or access changed. Sign in again."
WRONG_CREDENTIALS = "Incorrect email or password."
OTHER_KEY = "another-secret-key-that-is-long-enough-0123456789"


def sign_in(client: TestClient, email: str, password: str = PASSWORD):
    return client.post(TOKEN, data={"username": email, "password": password})


def assert_unauthorized(response, detail: str) -> None:
    body = assert_problem(response, 401)
    assert body["detail"] == detail
    assert response.headers["www-authenticate"].startswith("Bearer")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def unb64url_json(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def claims_for(user_id: int, **changes: Any) -> dict[str, Any]:
    now = utcnow()
    claims = {"sub": str(user_id), "ver": 0, "iat": now, "exp": now + timedelta(hours=1), "jti": "test"}
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not ...}


def tampered(token: str, **changes: Any) -> str:
    """The same token with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    return ".".join([header, b64url_json({**unb64url_json(payload), **changes}), signature])


def viewer_token_with(**changes: Any) -> Callable[[str, Account, Account], str]:
    """A builder of the header for a token signed rightly (HS256, the app's key) whose claims are changed."""
    return lambda secret, viewer, admin: (
        "Bearer " + jwt.encode(claims_for(viewer.id, **changes), secret, algorithm="HS256")
    )


# --- tokens ---------------------------------------------------------------------------------------------------

# name -> (Authorization header builder (secret, viewer account, admin account), expected detail)
BAD_CREDENTIALS: dict[str, tuple[Callable[[str, Account, Account], str | None], str]] = {
    "missing": (lambda secret, viewer, admin: None, SIGN_IN_FIRST),
    "empty-bearer": (lambda secret, viewer, admin: "Bearer ", SIGN_IN_FIRST),
    "other-scheme": (lambda secret, viewer, admin: f"Basic {viewer.token}", SIGN_IN_FIRST),
    "no-scheme": (lambda secret, viewer, admin: viewer.token, SIGN_IN_FIRST),
    "malformed": (lambda secret, viewer, admin: "Bearer not-a-jwt", INVALID_TOKEN),
    "malformed-three-parts": (lambda secret, viewer, admin: "Bearer a.b.c", INVALID_TOKEN),
    "truncated-signature": (lambda secret, viewer, admin: f"Bearer {viewer.token[:-4]}", INVALID_TOKEN),
    "expired": (
        lambda secret, viewer, admin: f"Bearer {create_access_token(str(viewer.id), secret, timedelta(seconds=-5))}",
        INVALID_TOKEN,
    ),
    "not-yet-valid": (
        lambda secret, viewer, admin: (
            "Bearer " + jwt.encode(claims_for(viewer.id, nbf=utcnow() + timedelta(hours=1)), secret, algorithm="HS256")
        ),
        INVALID_TOKEN,
    ),
    "tampered-sub": (
        lambda secret, viewer, admin: f"Bearer {tampered(viewer.token, sub=str(admin.id))}",
        INVALID_TOKEN,
    ),
    "tampered-exp": (
        lambda secret, viewer, admin: (
            "Bearer " + tampered(viewer.token, exp=int((utcnow() + timedelta(days=365)).timestamp()))
        ),
        INVALID_TOKEN,
    ),
    "other-key": (
        lambda secret, viewer, admin: "Bearer " + jwt.encode(claims_for(viewer.id), OTHER_KEY, algorithm="HS256"),
        INVALID_TOKEN,
    ),
    "alg-none": (
        lambda secret, viewer, admin: "Bearer " + jwt.encode(claims_for(admin.id), None, algorithm="none"),
        INVALID_TOKEN,
    ),
    "alg-none-by-hand": (
        lambda secret, viewer, admin: (
            "Bearer "
            + ".".join(
                [b64url_json({"alg": "none", "typ": "JWT"}), b64url_json({"sub": str(admin.id), "exp": 4102444800}), ""]
            )
        ),
        INVALID_TOKEN,
    ),
    "alg-none-keeping-the-signature": (
        lambda secret, viewer, admin: (
            "Bearer " + ".".join([b64url_json({"alg": "none", "typ": "JWT"}), *viewer.token.split(".")[1:]])
        ),
        INVALID_TOKEN,
    ),
    "hs512-right-key": (
        lambda secret, viewer, admin: "Bearer " + jwt.encode(claims_for(viewer.id), secret, algorithm="HS512"),
        INVALID_TOKEN,
    ),
    "hs384-right-key": (
        lambda secret, viewer, admin: "Bearer " + jwt.encode(claims_for(viewer.id), secret, algorithm="HS384"),
        INVALID_TOKEN,
    ),
    "missing-exp": (
        viewer_token_with(exp=...),
        INVALID_TOKEN,
    ),
    "missing-sub": (
        viewer_token_with(sub=...),
        INVALID_TOKEN,
    ),
    "empty-sub": (
        viewer_token_with(sub=""),
        INVALID_TOKEN,
    ),
    "sub-not-a-string": (
        lambda secret, viewer, admin: (
            "Bearer " + jwt.encode(claims_for(viewer.id, sub=viewer.id), secret, algorithm="HS256")
        ),
        INVALID_TOKEN,
    ),
    "missing-ver": (
        viewer_token_with(ver=...),
        INVALID_TOKEN,
    ),
    "ver-not-an-int": (
        viewer_token_with(ver="0"),
        INVALID_TOKEN,
    ),
    "ver-a-boolean": (
        viewer_token_with(ver=False),
        INVALID_TOKEN,
    ),
    "ver-of-another-generation": (
        lambda secret, viewer, admin: f"Bearer {create_access_token(str(viewer.id), secret, timedelta(hours=1), 1)}",
        STALE_TOKEN,
    ),
    "tampered-ver": (lambda secret, viewer, admin: f"Bearer {tampered(viewer.token, ver=1)}", INVALID_TOKEN),
    "sub-unknown-user": (
        lambda secret, viewer, admin: f"Bearer {create_access_token('999999', secret, timedelta(hours=1))}",
        NO_ACCOUNT,
    ),
    "sub-not-a-number": (
        lambda secret, viewer, admin: f"Bearer {create_access_token('admin', secret, timedelta(hours=1))}",
        NO_ACCOUNT,
    ),
    "sub-negative": (
        lambda secret, viewer, admin: f"Bearer {create_access_token('-1', secret, timedelta(hours=1))}",
        NO_ACCOUNT,
    ),
    "sub-too-big-for-an-id": (
        lambda secret, viewer, admin: f"Bearer {create_access_token('9' * 30, secret, timedelta(hours=1))}",
        NO_ACCOUNT,
    ),
}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 with our 48-byte key
@pytest.mark.parametrize("path", [ME, API])
@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
def test_a_bad_or_missing_token_is_401(app, anonymous, accounts, path, case):
    build, detail = BAD_CREDENTIALS[case]
    authorization = build(app.state.settings.secret_key, accounts[Role.VIEWER], accounts[Role.ADMIN])

    response = anonymous.get(path, headers={} if authorization is None else {"Authorization": authorization})

    assert_unauthorized(response, detail)


@pytest.mark.parametrize("path", [ME, API])
def test_the_untouched_tokens_of_the_same_tests_work(app, anonymous, accounts, path):
    """The control for the cases above: the same builders, unchanged, give tokens that open the API."""
    secret = app.state.settings.secret_key
    viewer = accounts[Role.VIEWER]
    for token in (
        viewer.token,
        create_access_token(str(viewer.id), secret, timedelta(seconds=60)),
        jwt.encode(claims_for(viewer.id), secret, algorithm="HS256"),
    ):
        response = anonymous.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
    assert anonymous.get(path, headers={"Authorization": f"bearer {viewer.token}"}).status_code == 200


def test_a_token_of_a_deleted_account_is_401(app, anonymous, db_session):
    now = utcnow()
    user = User(
        email="gone@example.com",
        display_name="Gone",
        role=Role.ADMIN,
        password_hash="x",
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    db_session.add(user)
    db_session.commit()
    token = create_access_token(str(user.id), app.state.settings.secret_key, timedelta(hours=1))
    assert anonymous.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 200

    db_session.execute(delete(User).where(User.id == user.id))
    db_session.commit()

    assert_unauthorized(anonymous.get(ME, headers={"Authorization": f"Bearer {token}"}), NO_ACCOUNT)
    assert_unauthorized(anonymous.get(API, headers={"Authorization": f"Bearer {token}"}), NO_ACCOUNT)


@pytest.mark.parametrize("path", [ME, API])
def test_a_token_of_a_deactivated_account_is_401(anonymous, accounts, db_session, path):
    viewer = accounts[Role.VIEWER]
    db_session.execute(update(User).where(User.id == viewer.id).values(is_active=False))
    db_session.commit()

    assert_unauthorized(anonymous.get(path, headers=viewer.headers), NO_ACCOUNT)


def test_a_token_follows_the_account_role_as_it_is_now(anonymous, accounts, auth_headers, db_session):
    """The role is read from the account at each request, not from the token."""
    admin_only = "/api/users"
    assert anonymous.get(admin_only, headers=auth_headers(Role.VIEWER)).status_code == 403

    db_session.execute(update(User).where(User.id == accounts[Role.VIEWER].id).values(role=Role.ADMIN))
    db_session.commit()

    assert anonymous.get(admin_only, headers=auth_headers(Role.VIEWER)).status_code == 200


# --- /api/auth/me ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_me_is_the_signed_in_account(anonymous, accounts, role):
    account = accounts[role]

    response = anonymous.get(ME, headers=account.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": account.id,
        "email": account.email,
        "display_name": account.display_name,
        "role": role.value,
    }


# --- sign-in --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_sign_in_returns_a_bearer_token_that_opens_the_api(app, anonymous, accounts, role):
    account = accounts[role]

    response = sign_in(anonymous, account.email)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", LIFETIME_SECONDS)
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    claims = jwt.decode(body["access_token"], app.state.settings.secret_key, algorithms=["HS256"])
    assert claims["sub"] == str(account.id)
    assert claims["exp"] - claims["iat"] == LIFETIME_SECONDS
    me = anonymous.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {
        "id": account.id,
        "email": account.email,
        "display_name": account.display_name,
        "role": role.value,
    }


@pytest.mark.parametrize("email", ["RESPONDER@EXAMPLE.COM", "Responder@Example.com", "  responder@example.com "])
def test_sign_in_email_is_case_insensitive(anonymous, accounts, email):
    response = sign_in(anonymous, email)

    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert anonymous.get(ME, headers={"Authorization": f"Bearer {token}"}).json()["id"] == accounts[Role.RESPONDER].id


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param("responder@example.com", "wrong password", id="wrong-password"),
        pytest.param("responder@example.com", PASSWORD.upper(), id="password-in-another-case"),
        pytest.param("responder@example.com", PASSWORD + " ", id="password-with-a-trailing-space"),
        pytest.param("responder@example.com", PASSWORD[:-1], id="password-minus-its-last-character"),
        pytest.param("nobody@example.com", PASSWORD, id="unknown-email"),
        pytest.param("responder@example.org", PASSWORD, id="another-domain"),
    ],
)
def test_wrong_credentials_are_401_with_the_same_answer(anonymous, accounts, email, password):
    response = sign_in(anonymous, email, password)

    assert_unauthorized(response, WRONG_CREDENTIALS)
    assert response.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": WRONG_CREDENTIALS,
    }


def test_an_inactive_account_cannot_sign_in(anonymous, accounts, db_session):
    db_session.execute(update(User).where(User.id == accounts[Role.RESPONDER].id).values(is_active=False))
    db_session.commit()

    assert_unauthorized(sign_in(anonymous, "responder@example.com"), WRONG_CREDENTIALS)


@pytest.mark.parametrize(
    "data",
    [{"username": "responder@example.com"}, {"password": PASSWORD}, {}],
    ids=["no-password", "no-username", "nothing"],
)
def test_sign_in_without_a_field_is_422(anonymous, accounts, data):
    assert_problem(anonymous.post(TOKEN, data=data), 422)


def test_sign_in_takes_a_form_not_json(anonymous, accounts):
    assert_problem(anonymous.post(TOKEN, json={"username": "responder@example.com", "password": PASSWORD}), 422)


# --- the same work for an unknown email (structurally, not timed) -----------------------------------------------


def test_verify_password_without_a_hash_is_false_after_real_work(monkeypatch):
    verified = []
    real_verify = security.password_hash.verify

    def spy(password, hashed):
        verified.append(hashed)
        return real_verify(password, hashed)

    monkeypatch.setattr(security.password_hash, "verify", spy)

    assert verify_password(PASSWORD, None) is False
    assert len(verified) == 1
    assert verified[0].startswith("$argon2id$")


@pytest.mark.parametrize(
    ("email", "password", "deactivate", "with_hash"),
    [
        ("nobody@example.com", PASSWORD, False, False),
        ("responder@example.com", "not the password", False, True),
        ("viewer@example.com", PASSWORD, True, True),
    ],
    ids=["unknown-email", "wrong-password", "inactive-account-right-password"],
)
def test_every_failed_sign_in_checks_a_password(
    anonymous, accounts, db_session, password_hash, monkeypatch, email, password, deactivate, with_hash
):
    """An unknown email costs a password check too (against no hash, which spends the same argon2 work)."""
    if deactivate:
        db_session.execute(update(User).where(User.email == email).values(is_active=False))
        db_session.commit()
    calls = []
    real = user_service.verify_password

    def spy(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(user_service, "verify_password", spy)

    assert_unauthorized(sign_in(anonymous, email, password), WRONG_CREDENTIALS)

    assert calls == [(password, password_hash if with_hash else None)]


# --- throttling -----------------------------------------------------------------------------------------------


def failures(session: Session, email: str | None = None) -> int:
    """The failures that count against later attempts (a success marks the account's as forgotten)."""
    session.rollback()
    query = select(func.count()).select_from(LoginFailure).where(LoginFailure.forgotten_at.is_(None))
    if email is not None:
        query = query.where(LoginFailure.email == email)
    return session.scalar(query) or 0


def assert_throttled(response) -> int:
    body = assert_problem(response, 429)
    retry_after = response.headers["retry-after"]
    assert retry_after.isdecimal(), retry_after
    assert 1 <= int(retry_after) <= 900
    assert body["detail"] == f"Too many failed sign-ins. Try again in {retry_after} seconds."
    return int(retry_after)


def test_five_failures_from_one_address_lock_it_out_of_the_account_even_for_the_right_password(
    anonymous, accounts, db_session
):
    for _ in range(5):
        assert_unauthorized(sign_in(anonymous, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
    assert failures(db_session, "admin@example.com") == 5

    assert_throttled(sign_in(anonymous, "admin@example.com"))
    assert_throttled(sign_in(anonymous, "ADMIN@example.com"))
    assert failures(db_session, "admin@example.com") == 5  # a throttled attempt is not checked, nor counted

    # Another account from the same client is below the client limit (20), so it may still sign in.
    assert sign_in(anonymous, "viewer@example.com").status_code == 200


def from_address(client: TestClient, address: str) -> TestClient:
    """Another client of the same app, connecting from this address (on its event loop: `on_the_same_loop`)."""
    other = TestClient(client.app, client=(address, 50000))
    other.portal = client.portal
    return other


def test_the_owner_signs_in_from_another_address_while_a_stranger_is_locked_out(anonymous, accounts, db_session):
    stranger, owner = anonymous, from_address(anonymous, "198.51.100.2")
    for _ in range(5):
        assert_unauthorized(sign_in(stranger, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
    assert_throttled(sign_in(stranger, "admin@example.com"))

    response = sign_in(owner, "admin@example.com")

    assert response.status_code == 200, response.text
    # The owner's success forgets nothing of the stranger's: the stranger stays locked out.
    assert failures(db_session, "admin@example.com") == 5
    assert_throttled(sign_in(stranger, "admin@example.com"))


def test_a_success_forgets_the_failures_of_its_own_address_only(anonymous, accounts, db_session):
    first, second = from_address(anonymous, "198.51.100.1"), from_address(anonymous, "198.51.100.2")
    for client in (first, second):
        for _ in range(4):
            assert_unauthorized(sign_in(client, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)

    assert sign_in(first, "admin@example.com").status_code == 200

    assert failures(db_session, "admin@example.com") == 4
    for _ in range(4):  # the first address starts again from zero...
        assert_unauthorized(sign_in(first, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
    assert_unauthorized(sign_in(second, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
    assert_throttled(sign_in(second, "admin@example.com"))  # ...the second does not


@pytest.fixture
def app_with(database_url, db_engine, accounts):
    """app_with(**settings) -> a client of an app with these sign-in limits (its lifespan closes its connections)."""
    clients = []

    def make(**settings: Any) -> TestClient:
        settings = {"login_failure_delay_seconds": 0, **settings}
        app = create_app(Settings(database_url=database_url, app_env="test", cors_origins=[], **settings))
        clients.append(TestClient(app))
        return clients[-1].__enter__()

    yield make
    for client in clients:
        client.__exit__(None, None, None)
    clear_tables(db_engine)


def backdate_failures(session: Session, seconds: float) -> None:
    """Move every recorded failure this many seconds into the past, as if the guesser had waited."""
    session.rollback()
    for failure in session.scalars(select(LoginFailure)):
        failure.failed_at -= timedelta(seconds=seconds)
    session.commit()


def retry_after(response) -> int:
    body = assert_problem(response, 429)
    assert body["detail"] == f"Too many failed sign-ins. Try again in {response.headers['retry-after']} seconds."
    return int(response.headers["retry-after"])


def test_an_address_that_keeps_failing_is_slowed_down_then_refused(app_with, accounts, db_session):
    guesser = app_with(login_failure_delay_seconds=60, login_failure_window_seconds=3600)
    owner = from_address(guesser, "198.51.100.2")
    began = time.monotonic()

    def about(seconds: int) -> range:
        """The Retry-After to expect: `seconds`, less the time the test has taken so far (argon2 is slow)."""
        return range(max(1, seconds - math.ceil(time.monotonic() - began) - 1), seconds + 1)

    for pause in (60, 120, 240, 480):  # after each failure, twice the wait of the one before
        assert_unauthorized(sign_in(guesser, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
        assert retry_after(sign_in(guesser, "admin@example.com")) in about(pause)  # the right password waits too
        backdate_failures(db_session, pause - 10)
        assert retry_after(sign_in(guesser, "admin@example.com")) in range(1, 11)  # not yet
        backdate_failures(db_session, 10)

    # Slowed only there: the owner from elsewhere, and another account from the same address, go through.
    assert sign_in(owner, "admin@example.com").status_code == 200
    assert sign_in(guesser, "viewer@example.com").status_code == 200
    # The fifth failure reaches the address's limit: refused until the oldest failure leaves the window.
    assert_unauthorized(sign_in(guesser, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
    backdate_failures(db_session, 2000)  # far past any slow-down: the first failure is 2,900 s old
    assert retry_after(sign_in(guesser, "admin@example.com")) in about(700)


def test_the_account_ceiling_bounds_guessing_spread_over_addresses(app_with, accounts, db_session):
    guesser = app_with(login_max_failures_per_account=6)
    for n in range(3):
        for _ in range(2):
            response = sign_in(from_address(guesser, f"203.0.113.{n}"), "admin@example.com", "wrong password")
            assert_unauthorized(response, WRONG_CREDENTIALS)

    # Each address is below its own limit (5), but the account has reached its ceiling: no one gets in.
    assert_throttled(sign_in(from_address(guesser, "203.0.113.0"), "admin@example.com", "wrong password"))
    assert_throttled(sign_in(from_address(guesser, "198.51.100.2"), "admin@example.com"))
    assert failures(db_session, "admin@example.com") == 6
    assert sign_in(from_address(guesser, "198.51.100.2"), "viewer@example.com").status_code == 200


def test_guesses_from_many_addresses_in_parallel_are_held_to_the_account_ceiling(app_with, accounts, db_session):
    guesser = app_with(login_max_failures_per_account=5)
    start = threading.Barrier(12)

    def attempt(n: int) -> int:
        client = from_address(guesser, f"203.0.113.{n}")
        start.wait(timeout=10)
        return sign_in(client, "admin@example.com", f"wrong password {n}").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(attempt, range(12)))

    # Each address has failed at most once, far below its limit: only the ceiling holds them.
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= 5
    assert failures(db_session, "admin@example.com") == statuses.count(401)


def test_failures_in_any_case_of_the_email_count_for_the_account(anonymous, accounts):
    emails = ("Admin@example.com", "ADMIN@EXAMPLE.COM", "admin@Example.com", " admin@example.com", "aDmIn@example.com")
    for email in emails:
        assert_unauthorized(sign_in(anonymous, email, "wrong password"), WRONG_CREDENTIALS)

    assert_throttled(sign_in(anonymous, "admin@example.com"))


def test_four_failures_do_not_lock_and_success_forgets_them(anonymous, accounts, db_session):
    for _ in range(4):
        assert_unauthorized(sign_in(anonymous, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
    assert sign_in(anonymous, "admin@example.com").status_code == 200
    assert failures(db_session, "admin@example.com") == 0

    for _ in range(4):  # had the first four been kept, the second of these would be refused with 429
        assert_unauthorized(sign_in(anonymous, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
    assert sign_in(anonymous, "admin@example.com").status_code == 200


def test_an_unknown_email_is_throttled_like_an_account(anonymous, accounts):
    for _ in range(5):
        assert_unauthorized(sign_in(anonymous, "nobody@example.com"), WRONG_CREDENTIALS)

    assert_throttled(sign_in(anonymous, "nobody@example.com"))


def sign_in_in_parallel(client: TestClient, attempts: list[tuple[str, str]]) -> list[int]:
    """Send the sign-ins at the same moment, one thread each; their statuses in the order given."""
    start = threading.Barrier(len(attempts))

    def attempt(credentials: tuple[str, str]) -> int:
        start.wait(timeout=10)
        return sign_in(client, *credentials).status_code

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return list(pool.map(attempt, attempts))


def test_guesses_sent_in_parallel_are_held_to_the_limit(anonymous, accounts, db_session):
    statuses = sign_in_in_parallel(anonymous, [("admin@example.com", f"wrong password {n}") for n in range(12)])

    # Checked together, all twelve would have been 401: only five passwords are checked, the rest wait.
    assert sorted(statuses) == [401] * statuses.count(401) + [429] * statuses.count(429)
    assert statuses.count(401) <= 5  # attempts still in flight count too, so it may be fewer
    assert failures(db_session, "admin@example.com") == statuses.count(401)  # the refused ones did not count
    for _ in range(5 - statuses.count(401)):
        assert_unauthorized(sign_in(anonymous, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
    assert_throttled(sign_in(anonymous, "admin@example.com"))


def test_the_right_password_among_parallel_guesses_counts_against_the_same_limit(anonymous, accounts):
    for _ in range(3):
        assert_unauthorized(sign_in(anonymous, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)

    guesses = [("admin@example.com", f"wrong password {n}") for n in range(6)]
    statuses = sign_in_in_parallel(anonymous, [*guesses, ("admin@example.com", PASSWORD)])

    # Three failures were already in: at most two more passwords are checked, the right one or not.
    assert set(statuses) <= {200, 401, 429}
    assert statuses.count(200) + statuses.count(401) <= 2


@pytest.fixture
def strict_client(database_url, db_engine, accounts):
    """A client of an app that allows only 3 failed sign-ins per client address (the accounts' limit stays 5)."""
    strict = create_app(
        Settings(
            database_url=database_url,
            app_env="test",
            cors_origins=[],
            login_max_failures_per_client=3,
            login_failure_delay_seconds=0,
        )
    )
    with TestClient(strict) as test_client:  # its lifespan closes the app's connections
        yield test_client
    clear_tables(db_engine)


def test_the_client_limit_throttles_every_account_from_that_client(strict_client, db_session):
    for _ in range(2):
        assert_unauthorized(sign_in(strict_client, "admin@example.com", "wrong password"), WRONG_CREDENTIALS)
    # Below the client limit, and the account limit of another account is untouched.
    assert sign_in(strict_client, "responder@example.com").status_code == 200
    assert_unauthorized(sign_in(strict_client, "viewer@example.com", "wrong password"), WRONG_CREDENTIALS)
    assert failures(db_session) == 3

    for email in ("viewer@example.com", "responder@example.com", "admin@example.com", "nobody@example.com"):
        assert_throttled(sign_in(strict_client, email))
