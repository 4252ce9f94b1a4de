"""Idempotent creates: an `Idempotency-Key` makes a retried POST answer what the first one answered.

A key belongs to one account, and to the method and path it was first sent with. Its life:

1. claim: the key is written with no answer yet, committed in a transaction of its own before the create runs, so
   that a concurrent request with the same key finds it (in flight: 409) instead of creating a second incident;
2. complete: the create's own transaction stores the answer (status, body, Location) in the claimed row, so the
   incident and the stored answer commit together, or neither does;
3. release: if the request fails, its work is rolled back and the claim deleted, so a retry runs afresh. Only a
   claim without an answer is deleted: a create whose COMMIT was sent but not confirmed (the connection was lost)
   may have committed its answer, and that answer is what a retry must get. When the database cannot be reached,
   the request does not wait for it a second time: `PendingReleases` deletes the claim once it answers again.

A claimed key answers the stored answer to the same request (the same body as understood after validation), and
422 to another body or another endpoint. Keys older than 24 hours are forgotten. A claim still without an answer
after `ABANDONED_AFTER` belongs to a request that died before it could complete or release it (its process
stopped, or its commit failed); the next request with that key takes it over.
"""

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.database import end_after_failure, is_unreachable, utcnow
from app.errors import AppError
from app.models import IdempotencyKey

KEPT_FOR = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=5)
# Tries to claim a key that keeps being released or abandoned between the insert and the read.
_ATTEMPTS = 3
# A release that the database could not take is tried again after these many seconds (doubling, at most the last).
RELEASE_RETRY_SECONDS = (0.5, 5.0)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: str
    location: str | None


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: the row this request now owns, or the answer to replay."""

    key_id: int | None = None
    answer: StoredAnswer | None = None


def fingerprint(body: Any) -> str:
    """SHA-256 of a JSON-ready body in canonical form (sorted keys, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _reused(detail: str) -> RequestValidationError:
    error = {"loc": ("header", "Idempotency-Key"), "msg": detail, "type": "idempotency_key_reused"}
    return RequestValidationError([error])


async def claim(
    session_factory: async_sessionmaker[AsyncSession],
    user_id: int,
    key: str,
    method: str,
    path: str,
    body_fingerprint: str,
) -> Claim:
    """Claim `key` for this request, or find the answer to replay; 409 while the first request is in flight, 422
    when the key was used for another body or endpoint. Each step is a short transaction of its own, committed at
    once, on its own connection (the request's session is not used here)."""
    key_hash = _key_hash(key)
    now = utcnow()
    # Forgetting is a transaction of its own: on MySQL a range delete locks the gaps it scans (see services/auth.py).
    async with session_factory() as session, session.begin():
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEPT_FOR))
    for _attempt in range(_ATTEMPTS):
        row = IdempotencyKey(
            user_id=user_id, key_hash=key_hash, method=method, path=path, fingerprint=body_fingerprint, created_at=now
        )
        try:
            async with session_factory() as session, session.begin():
                session.add(row)
            return Claim(key_id=row.id)
        except IntegrityError:
            pass  # claimed before: by whom, for what, and how far did it get?
        async with session_factory() as session:
            existing = await session.scalar(
                select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key_hash == key_hash)
            )
        if existing is None:  # released (or forgotten) meanwhile: claim it again
            continue
        if (existing.method, existing.path) != (method, path):
            raise _reused(f"This Idempotency-Key was used for {existing.method} {existing.path} within 24 hours.")
        if existing.fingerprint != body_fingerprint:
            raise _reused("This Idempotency-Key was used with another request body within 24 hours.")
        if existing.status_code is not None:
            return Claim(answer=StoredAnswer(existing.status_code, existing.body or "", existing.location))
        if existing.created_at >= utcnow() - ABANDONED_AFTER:
            raise AppError(
                409,
                "A request with this Idempotency-Key is still in progress. Try again shortly.",
                headers={"Retry-After": "1"},
            )
        async with session_factory() as session, session.begin():  # abandoned: delete it, then claim it again
            await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.id == existing.id, IdempotencyKey.status_code.is_(None))
            )
    raise AppError(409, "A request with this Idempotency-Key is still in progress. Try again shortly.")


async def complete(session: AsyncSession, key_id: int, status_code: int, body: str, location: str | None) -> None:
    """Store the answer in the claimed row, in the request's own transaction (committed with the create)."""
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == key_id)
        .values(status_code=status_code, body=body, location=location)
        .execution_options(synchronize_session=False)
    )


async def _delete_claim(session_factory: async_sessionmaker[AsyncSession], key_id: int) -> None:
    async with session_factory() as own, own.begin():
        await own.execute(
            delete(IdempotencyKey).where(IdempotencyKey.id == key_id, IdempotencyKey.status_code.is_(None))
        )


async def release(
    session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    key_id: int,
    pending: "PendingReleases",
    error: BaseException,
) -> None:
    """The request failed with `error`: end its work now (the session dependency would next; until then its
    transaction holds the locks the delete needs: SQLite's write lock, the claimed row on MySQL), then delete the
    claim; or, when the database cannot be reached, leave that to `pending`, so the failed request answers (503)
    without waiting on the database once more."""
    await end_after_failure(session, error)
    if is_unreachable(error):
        pending.add(key_id)
        return
    await _delete_claim(session_factory, key_id)


class PendingReleases:
    """Claims of requests that failed because the database could not be reached, deleted in the background once it
    answers again: a retry after the database is back finds its key free, rather than "in progress" (409) until the
    claim counts as abandoned. A claim it cannot delete within ABANDONED_AFTER is left to that rule."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, key_id: int) -> None:
        task = asyncio.get_running_loop().create_task(self._release(key_id), name=f"release-idempotency-key-{key_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, key_id: int) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + ABANDONED_AFTER.total_seconds()
        wait, longest = RELEASE_RETRY_SECONDS
        while True:
            await asyncio.sleep(wait)
            try:
                await _delete_claim(self._session_factory, key_id)
                return
            except Exception as exc:
                if not is_unreachable(exc) or loop.time() + wait > give_up:
                    logger.warning("Could not release idempotency key %s; it counts as abandoned in time", key_id)
                    return
            wait = min(wait * 2, longest)

    async def stop(self) -> None:
        """Cancel the releases still waiting (at shutdown): their claims count as abandoned in time."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
