"""The live feed's outbox: every audit event of an incident becomes a `live_events` row in the change's own
transaction, numbered in commit order, so the feed is the audit trail as committed and a change that rolls back is
never sent.

`audit.record` adds each event (with the incident as it is after the change, serialised as the API shows both) to
the session's pending list. The last step before the session commits writes them: it raises `live_sequence`'s
single row by their number, which locks the row until the commit (MySQL/MariaDB; SQLite's write lock is held
already), and inserts them at the positions it got. Taken after every other lock of the transaction, so it cannot
deadlock with them, and held only until commit, so positions follow commit order. After the commit the session's
doorbell (if the app gave it one) tells the live feed that there is something new.

A cursor is a position, encoded so that clients treat it as opaque.
"""

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Row, delete, event, func, insert, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from app.database import AppSession
from app.models import EventAction, Incident, IncidentEvent, LiveEvent, LiveSequence
from app.schemas import EventRead, IncidentRead

PENDING = "live_pending"  # session.info: the live events of the transaction, not yet written
WRITTEN = "live_written"  # session.info: the commit under way carries live events
DOORBELL = "live_doorbell"  # session.info (from the session factory): called after a commit that carried live events

SEQUENCE_ID = 1


@dataclass(frozen=True)
class Pending:
    incident_id: int
    action: str
    archived: bool
    event: str
    incident: str


def add(session: AsyncSession, event_row: IncidentEvent, incident: Incident) -> None:
    """Queue a live event for the transaction: the event and the incident as they are now, as JSON."""
    session.info.setdefault(PENDING, []).append(
        Pending(
            incident_id=incident.id,
            action=EventAction(event_row.action).value,
            archived=incident.archived_at is not None,
            event=EventRead.model_validate(event_row).model_dump_json(),
            incident=IncidentRead.model_validate(incident).model_dump_json(),
        )
    )


def _raise_sequence(session: Session, count: int) -> int:
    """Raise the sequence by `count` (creating its row if it is missing), locking it until commit; the new last
    position."""
    dialect = session.get_bind().dialect.name
    values = {"id": SEQUENCE_ID, "position": count}
    if dialect in ("mysql", "mariadb"):
        statement = mysql.insert(LiveSequence).values(values)
        statement = statement.on_duplicate_key_update(position=LiveSequence.position + statement.inserted.position)
    else:
        statement = sqlite.insert(LiveSequence).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["id"], set_={"position": LiveSequence.position + statement.excluded.position}
        )
    session.execute(statement)
    return session.execute(select(LiveSequence.position).where(LiveSequence.id == SEQUENCE_ID)).scalar_one()


@event.listens_for(AppSession, "before_commit")
def _write_pending(session: Session) -> None:
    pending: list[Pending] | None = session.info.pop(PENDING, None)
    if not pending:
        return
    last = _raise_sequence(session, len(pending))
    first = last - len(pending) + 1
    session.execute(
        insert(LiveEvent),
        [
            {
                "position": first + n,
                "incident_id": item.incident_id,
                "action": item.action,
                "archived": item.archived,
                "event": item.event,
                "incident": item.incident,
            }
            for n, item in enumerate(pending)
        ],
    )
    session.info[WRITTEN] = True


@event.listens_for(AppSession, "after_commit")
def _ring(session: Session) -> None:
    if session.info.pop(WRITTEN, False):
        doorbell: Callable[[], None] | None = session.info.get(DOORBELL)
        if doorbell is not None:
            doorbell()


@event.listens_for(AppSession, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(PENDING, None)
    session.info.pop(WRITTEN, None)


# --- reading -----------------------------------------------------------------------------------------------


class InvalidCursor(ValueError):
    """A cursor this feed did not make."""


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(position.to_bytes(8, "big")).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    if not isinstance(cursor, str) or len(cursor) != 11:
        raise InvalidCursor("not a cursor of the live feed")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=")
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("not a cursor of the live feed") from exc
    if len(raw) != 8 or encode_cursor(int.from_bytes(raw, "big")) != cursor:
        raise InvalidCursor("not a cursor of the live feed")
    return int.from_bytes(raw, "big")


async def head(connection: AsyncConnection) -> int:
    """The last position committed (0 before the first)."""
    last = await connection.scalar(select(LiveSequence.position).where(LiveSequence.id == SEQUENCE_ID))
    return last or 0


async def oldest(connection: AsyncConnection) -> int | None:
    """The first position still kept, or None when none is."""
    return await connection.scalar(select(func.min(LiveEvent.position)))


async def rows_after(
    connection: AsyncConnection, after: int, *, upto: int | None = None, limit: int = 500
) -> Sequence[Row]:
    """Up to `limit` live events after position `after` (up to `upto`, if given), in position order."""
    query = select(LiveEvent.__table__).where(LiveEvent.position > after)
    if upto is not None:
        query = query.where(LiveEvent.position <= upto)
    return (await connection.execute(query.order_by(LiveEvent.position).limit(limit))).all()


async def prune(connection: AsyncConnection, keep: int) -> int:
    """Forget all but the newest `keep` positions; how many rows went."""
    last = await head(connection)
    result = await connection.execute(delete(LiveEvent).where(LiveEvent.position <= last - keep))
    return result.rowcount
