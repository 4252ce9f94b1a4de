"""Passwords (argon2id through pwdlib) and access tokens (JWT, HS256, through PyJWT)."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
from pwdlib import PasswordHash

from app.database import utcnow

ALGORITHM = "HS256"

password_hash = PasswordHash.recommended()  # argon2id with the library's current parameters

# Verified against when the email is unknown, so that such a sign-in costs the same time as a wrong password.
_DUMMY_HASH = password_hash.hash(uuid.uuid4().hex)


def hash_password(password: str) -> str:
    return password_hash.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """Check a password; with no hash (unknown account) spend the same work and answer False."""
    if hashed is None:
        password_hash.verify(password, _DUMMY_HASH)
        return False
    return password_hash.verify(password, hashed)


def create_access_token(subject: str, secret_key: str, lifetime: timedelta, version: int = 0) -> str:
    """A signed token for `subject` (an account id) that expires after `lifetime`. `version` is the account's
    token version: when the account raises it, this token stops working."""
    now = utcnow()
    claims = {"sub": subject, "ver": version, "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


class InvalidToken(Exception):
    """The token is missing a claim, expired, tampered with, or not signed with our key and algorithm."""


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    version: int
    expires_at: float  # POSIX seconds


def decode_access_token(token: str, secret_key: str) -> TokenClaims:
    """The token's claims. Only HS256 is accepted (never `none`); `exp`, `sub` and `ver` are required."""
    try:
        claims = jwt.decode(token, secret_key, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "ver"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    subject, version = claims["sub"], claims["ver"]
    if not isinstance(subject, str) or not subject or type(version) is not int:
        raise InvalidToken("malformed sub or ver claim")
    return TokenClaims(subject, version, float(claims["exp"]))
