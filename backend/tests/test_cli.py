"""`python -m app.cli create-user`, run as a real process on the suite's SQLite database: exit codes, messages,
and the account it stores. The interactive path runs in a pseudo-terminal, so getpass really turns echo off."""

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import Engine
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from app.config import BACKEND_DIR
from app.models import Role, User
from app.security import verify_password

PASSWORD = "correct horse battery staple"
TIMEOUT = 60


@pytest.fixture
def cli_env(sqlite_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FIRST_ADMIN_", "APP_ENV"))}
    return {**env, "DATABASE_URL": sqlite_url}


def arguments(email="Sam@Example.com", name="Sam Rivera", role="responder", *, stdin=True) -> list[str]:
    args = [sys.executable, "-m", "app.cli", "create-user", "--email", email, "--name", name, "--role", role]
    return [*args, "--password-stdin"] if stdin else args


def create_user(cli_env, stdin: str, *args, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args) or arguments(**kwargs),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=BACKEND_DIR,
        env=cli_env,
        timeout=TIMEOUT,
        check=False,
    )


def accounts(engine: Engine) -> list[User]:
    with Session(engine) as session:
        return list(session.scalars(sql_select(User).order_by(User.id)))


# --- --password-stdin -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("line_end", ["\n", "\r\n", ""], ids=["lf", "crlf", "no-newline"])
def test_create_user_stores_the_account_and_exits_0(engine, cli_env, line_end):
    result = create_user(cli_env, PASSWORD + line_end)

    (user,) = accounts(engine)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"Created responder sam@example.com (id {user.id}).\n",
        "",
    )
    assert (user.email, user.display_name, user.role, user.is_active) == (
        "sam@example.com",
        "Sam Rivera",
        Role.RESPONDER,
        True,
    )
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(PASSWORD, user.password_hash)
    assert not verify_password(PASSWORD + "\r", user.password_hash)


@pytest.mark.parametrize("role", list(Role))
def test_every_role_can_be_created(engine, cli_env, role):
    result = create_user(cli_env, PASSWORD, role=role.value)

    assert result.returncode == 0, result.stderr
    assert [user.role for user in accounts(engine)] == [role]


def test_only_the_first_line_is_the_password_and_spaces_are_kept(engine, cli_env):
    result = create_user(cli_env, "  padded password  \nsecond line\n")

    assert result.returncode == 0, result.stderr
    (user,) = accounts(engine)
    assert verify_password("  padded password  ", user.password_hash)


def test_an_email_taken_in_another_case_exits_1(engine, cli_env):
    assert create_user(cli_env, PASSWORD).returncode == 0

    result = create_user(cli_env, "another password\n", email="SAM@example.COM", name="Other")

    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "An account with the email sam@example.com already exists.\n",
    )
    (user,) = accounts(engine)
    assert (user.display_name, verify_password(PASSWORD, user.password_hash)) == ("Sam Rivera", True)


@pytest.mark.parametrize(
    ("stdin", "overrides", "message"),
    [
        pytest.param("1234567\n", {}, "password: String should have at least 8 characters\n", id="password-7"),
        pytest.param("p" * 129 + "\n", {}, "password: String should have at most 128 characters\n", id="password-129"),
        pytest.param("", {}, "password: String should have at least 8 characters\n", id="no-input"),
        pytest.param(PASSWORD, {"name": "   "}, "display_name: ", id="blank-name"),
        pytest.param(PASSWORD, {"email": "not-an-email"}, "email: ", id="bad-email"),
    ],
)
def test_invalid_input_exits_2_naming_the_field_and_stores_nothing(engine, cli_env, stdin, overrides, message):
    result = create_user(cli_env, stdin, **overrides)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert PASSWORD not in result.stderr
    assert accounts(engine) == []


def test_the_128_character_password_is_stored_whole(engine, cli_env):
    password = "".join(chr(ord("a") + i % 26) for i in range(128))

    assert create_user(cli_env, password + "\n").returncode == 0

    (user,) = accounts(engine)
    assert verify_password(password, user.password_hash)
    assert not verify_password(password[:-1], user.password_hash)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--email", "a@example.com", "--name", "A", "--role", "owner", "--password-stdin"],
            "invalid choice: 'owner'",
            id="unknown-role",
        ),
        pytest.param(
            ["--name", "A", "--role", "viewer", "--password-stdin"],
            "the following arguments are required: --email",
            id="no-email",
        ),
        pytest.param(
            ["--email", "a@example.com", "--role", "viewer"],
            "the following arguments are required: --name",
            id="no-name",
        ),
    ],
)
def test_bad_arguments_exit_2_with_the_usage(engine, cli_env, args, message):
    result = create_user(cli_env, PASSWORD, sys.executable, "-m", "app.cli", "create-user", *args)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("usage: python -m app.cli create-user"), result.stderr
    assert message in result.stderr
    assert accounts(engine) == []


# --- asked for on a terminal, without echo --------------------------------------------------------------------


class Terminal:
    """The command run in a pseudo-terminal (its controlling terminal, so getpass opens it as /dev/tty)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.output = b""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the command
            try:
                os.chdir(BACKEND_DIR)
                os.execve(args[0], args, env)  # noqa: S606 - our own interpreter and arguments
            finally:
                os._exit(127)

    def read_until(self, marker: bytes) -> None:
        deadline = time.monotonic() + TIMEOUT
        while marker not in self.output:
            if not self._read(deadline):
                raise AssertionError(f"no {marker!r} on the terminal; it shows {self.output!r}")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def finish(self) -> int:
        """Read the rest of the output, and the exit code."""
        deadline = time.monotonic() + TIMEOUT
        while self._read(deadline):
            pass
        _pid, status = os.waitpid(self.pid, 0)
        self.pid = 0
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)

    def stop(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            os.close(self.fd)

    def _read(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"the command did not finish; the terminal shows {self.output!r}")
        ready, _, _ = select.select([self.fd], [], [], remaining)
        if not ready:
            return self._read(deadline)
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the command has exited and closed the terminal
            return False
        self.output += chunk
        return bool(chunk)


@pytest.fixture
def terminal(cli_env):
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        started.append(Terminal(arguments(stdin=False) if not args else list(args), cli_env))
        return started[-1]

    yield start
    for term in started:
        term.stop()


def test_the_password_is_asked_twice_without_echo(engine, terminal):
    term = terminal()

    term.read_until(b"Password: ")
    term.type(PASSWORD + "\n")
    term.read_until(b"Repeat the password: ")
    term.type(PASSWORD + "\n")
    code = term.finish()

    (user,) = accounts(engine)
    assert code == 0, term.output
    assert f"Created responder sam@example.com (id {user.id}).".encode() in term.output
    assert PASSWORD.encode() not in term.output  # not echoed, not printed
    assert verify_password(PASSWORD, user.password_hash)


def test_passwords_that_differ_exit_1_and_store_nothing(engine, terminal):
    term = terminal()

    term.read_until(b"Password: ")
    term.type(PASSWORD + "\n")
    term.read_until(b"Repeat the password: ")
    term.type("something else entirely\n")
    code = term.finish()

    assert code == 1, term.output
    assert b"The passwords do not match." in term.output
    assert PASSWORD.encode() not in term.output
    assert b"something else" not in term.output
    assert accounts(engine) == []


def test_a_short_password_typed_twice_exits_2(engine, terminal):
    term = terminal()

    term.read_until(b"Password: ")
    term.type("short\n")
    term.read_until(b"Repeat the password: ")
    term.type("short\n")
    code = term.finish()

    assert code == 2, term.output
    assert b"password: String should have at least 8 characters" in term.output
    assert accounts(engine) == []
