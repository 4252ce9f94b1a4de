"""Incident use cases. Functions here flush but never commit: the request's unit of work does that."""

from collections import Counter
from datetime import datetime
from functools import lru_cache
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy import (
    ColumnElement,
    Delete,
    FromClause,
    Insert,
    Row,
    Select,
    Subquery,
    bindparam,
    delete,
    false,
    func,
    select,
    update,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.database import utcnow
from app.errors import AppError, NotFound
from app.etags import EntityTags, etag
from app.models import EventAction, Incident, IncidentCount, IncidentEvent, Severity, Status, User
from app.schemas import IncidentCreate, IncidentListParams, IncidentRead, IncidentUpdate
from app.services import audit, metrics, search
from app.services.audit import Actor
from app.services.paging import Order, PageResult, PageRows, count_statement, decode_cursor, read_page

# What an event records of an incident: the fields people set and the lifecycle stamps that follow from them.
TRACKED_FIELDS = ("title", "service", "severity", "status", "description", "mitigated_at", "resolved_at")

# The people an incident names, loaded in the same query, with only the columns an answer shows.
WITH_PEOPLE = tuple(
    joinedload(relationship).load_only(User.id, User.display_name)
    for relationship in (Incident.created_by, Incident.updated_by, Incident.archived_by, Incident.commander)
)
PERSON_RELATIONSHIPS = ("created_by", "updated_by", "archived_by", "commander")

# The same people in a list page, read as columns: the incident's own column holds each one's id, an alias of users
# the display name.
PEOPLE = {
    name: (Incident.__table__.c[f"{name}_id"], User.__table__.alias(f"{name}_user")) for name in PERSON_RELATIONSHIPS
}
INCIDENT_COLUMNS = tuple(Incident.__table__.c)


def _with_people(incidents: FromClause) -> Select[Any]:
    """The incidents of `incidents` (the table, or it joined to what picks the rows) with the people they name: one
    row each, the incident's columns, then each person's display name (null when there is none)."""
    joined = incidents
    names = []
    for name, (person_id, person) in PEOPLE.items():
        joined = joined.outerjoin(person, person.c.id == person_id)
        names.append(person.c.display_name.label(f"{name}_display_name"))
    return select(*INCIDENT_COLUMNS, *names).select_from(joined)


def _page_statement(ids: Subquery) -> Select[Any]:
    """The incidents of a page (`ids`, in a derived table) with the people they name."""
    incidents = Incident.__table__
    return _with_people(ids.join(incidents, incidents.c.id == ids.c.id))


def _page_item(row: Row[Any]) -> dict[str, Any]:
    """A page's row as the list's item: the incident's fields, and each person as {id, display_name} or None."""
    values = row._mapping
    item = {column.key: values[column] for column in INCIDENT_COLUMNS}
    for name, (person_id, _) in PEOPLE.items():
        known = item[person_id.key]
        item[name] = None if known is None else {"id": known, "display_name": values[f"{name}_display_name"]}
    return item


PAGE_ROWS = PageRows(_page_statement, _page_item)

# One incident as a list page reads it: a statement of plain columns, built once.
_ONE_INCIDENT = _with_people(Incident.__table__).where(Incident.__table__.c.id == bindparam("incident_id"))

# The whitelist that reaches ORDER BY: only these attributes can ever be sorted on. Each is served by an index
# (archived, column, id).
SORT_COLUMNS = {
    "id": Incident.id,
    "title": Incident.title,
    "service": Incident.service,
    "severity": Incident.severity,
    # Status sorts in lifecycle order (OPEN, MITIGATED, RESOLVED), not alphabetically: by its stored rank.
    "status": Incident.status_rank,
    "created_at": Incident.created_at,
    "updated_at": Incident.updated_at,
    # By the commander's id (index (archived, commander_id, id)); NULL, no commander, is the smallest value on both
    # databases: first ascending, last descending (paging.Order.after resumes across it).
    "commander": Incident.commander_id,
}

# A count group: (archived, severity, status).
Group = tuple[bool, Severity, Status]


def _filters(params: IncidentListParams) -> list[ColumnElement[bool]]:
    """The list's conditions other than search: archived or not, severity, status, commander (`me` resolved to a
    user's id by the route)."""
    # Archived incidents are in no list but the archived one.
    conditions: list[ColumnElement[bool]] = [Incident.archived == params.archived]
    if params.severity:
        conditions.append(Incident.severity.in_(params.severity))
    if params.status:
        conditions.append(Incident.status.in_(params.status))
    if params.commander == "none":
        conditions.append(Incident.commander_id.is_(None))
    elif params.commander is not None:
        conditions.append(Incident.commander_id == params.commander)
    return conditions


async def list_conditions(session: AsyncSession, params: IncidentListParams) -> list[ColumnElement[bool]]:
    """The conditions of the list (and of its export): archived or not, search, severity, status, commander. Planning a
    search reads the search index."""
    conditions = _filters(params)
    if params.search:
        conditions.append(await search.search_condition(session, params.search))
    return conditions


@lru_cache(maxsize=256)
def _plain_list(
    archived: bool, severity: tuple[Severity, ...], status: tuple[Status, ...], commander: int | str | None
) -> tuple[tuple[ColumnElement[bool], ...], Select[tuple[int]] | None]:
    """The conditions and the total of a list without search, by its filters (built once per filters: statements
    are immutable). The counts know no commander: with one, there is no total here, and read_page counts the
    matches (bounded, by the commander's index)."""
    params = IncidentListParams(archived=archived, severity=list(severity), status=list(status), commander=commander)
    return tuple(_filters(params)), counted_total(params) if commander is None else None


def list_order(params: IncidentListParams) -> Order:
    return Order(params.sort_by, SORT_COLUMNS[params.sort_by], Incident.id, params.sort_order == "desc")


def counted_total(params: IncidentListParams) -> Select[tuple[int]]:
    """The exact total of a list without search: the sum of the maintained counts of its groups."""
    conditions = [IncidentCount.archived == params.archived]
    if params.severity:
        conditions.append(IncidentCount.severity.in_(params.severity))
    if params.status:
        conditions.append(IncidentCount.status.in_(params.status))
    return select(func.coalesce(func.sum(IncidentCount.total), 0)).where(*conditions)


async def list_incidents(
    session: AsyncSession, params: IncidentListParams, *, count_bound: int | None = None
) -> PageResult[dict[str, Any]]:
    """One page of incidents (by `params.cursor`, else by `params.page`), ordered with `id` as the tie-breaker,
    and the total that match: exact from the counts without search or commander; with either, a COUNT that stops
    after `count_bound` + 1 matches (a commander's through its index; a search's through the title and service
    indexes when many incidents hold a few matching values). Raises InvalidCursor (before the page is read) for a
    cursor this order did not make. The items are the incidents' fields and people (`_page_item`), as
    `IncidentRead` reads them."""
    order = list_order(params)
    count = shape = None
    if not params.search:
        # The statement's parts, built once per filters (`_plain_list`) and the page's statement once per shape.
        filters = (params.archived, tuple(params.severity), tuple(params.status), params.commander)
        conditions, total = _plain_list(*filters)
        shape = (*filters, params.sort_by, params.sort_order)
    else:
        plan = await search.search_plan(session, params.search)
        if plan.nothing:  # no incident holds the term: no page to read (a cursor is still checked)
            if params.cursor:
                decode_cursor(order, params.cursor, session.get_bind().dialect.name)
            return PageResult([], 0, True, None)
        conditions, total = _filters(params), None
        if plan.values is not None and count_bound is not None:
            count = search.matches_count_query(plan.values, conditions, count_bound)
        conditions.append(plan.condition)
        if plan.few and (count_bound is None or count_bound >= search.SPARSE_LIMIT):
            # At most SPARSE_LIMIT matches, by id: their exact count (within the bound) rides in the page's statement.
            total = count_statement(Incident, conditions)
    return await read_page(
        session,
        Incident,
        PAGE_ROWS,
        conditions,
        order,
        params,
        cursor=params.cursor,
        total=total,
        count=count,
        count_bound=count_bound,
        shape=shape,
    )


# --- the counts ------------------------------------------------------------------------------------------------


def _group(incident: Incident) -> Group:
    return (incident.archived_at is not None, Severity(incident.severity), Status(incident.status))


def count_changes(dialect: str, before: Group | None, after: Group | None) -> list[Insert]:
    """The statements that move one incident from group `before` to group `after` (None: no group), in a fixed
    order of the groups, so that two transactions lock count rows in the same order and never deadlock.

    Each is an upsert: the migration creates every group's row, but a table emptied outside the app (tests)
    gets its rows back on first use."""
    deltas: Counter[Group] = Counter()
    if before is not None:
        deltas[before] -= 1
    if after is not None:
        deltas[after] += 1
    upsert = mysql.insert if dialect in ("mysql", "mariadb") else sqlite.insert
    statements = []
    for (archived, severity, status), delta in sorted(deltas.items()):
        if delta == 0:
            continue
        statement = upsert(IncidentCount).values(archived=archived, severity=severity, status=status, total=delta)
        if dialect in ("mysql", "mariadb"):
            statement = statement.on_duplicate_key_update(total=IncidentCount.total + statement.inserted.total)
        else:
            statement = statement.on_conflict_do_update(
                index_elements=["archived", "severity", "status"],
                set_={"total": IncidentCount.total + statement.excluded.total},
            )
        statements.append(statement)
    return statements


async def _move(session: AsyncSession, before: Group | None, after: Group | None) -> None:
    for statement in count_changes(session.get_bind().dialect.name, before, after):
        await session.execute(statement)


def recount_statements() -> tuple[Delete, Insert]:
    """Rebuild every count from the incidents (after rows were written outside the services, e.g. a bulk seed)."""
    grouped = select(Incident.archived, Incident.severity, Incident.status, func.count()).group_by(
        Incident.archived, Incident.severity, Incident.status
    )
    insert_counts = IncidentCount.__table__.insert().from_select(["archived", "severity", "status", "total"], grouped)
    return delete(IncidentCount), insert_counts


async def _lock(session: AsyncSession, incident: Incident) -> Incident:
    """Re-read the incident's row as last committed, locked until the transaction ends, so that two requests
    changing the same incident take turns and each moves its count from the group the row is really in.

    MySQL/MariaDB: SELECT ... FOR UPDATE of the row alone (its columns, no joins: a join would lock the people
    too), a locking read that sees the newest committed row under REPEATABLE READ. SQLite ignores FOR UPDATE: a
    write that changes nothing takes its single write lock first (see services/users.py)."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(
            update(Incident).where(false()).values(id=Incident.id).execution_options(synchronize_session=False)
        )
    table = Incident.__table__
    row = (await session.execute(select(*table.c).where(table.c.id == incident.id).with_for_update())).one()
    for key, value in row._mapping.items():
        set_committed_value(incident, key, value)
    # A person the row names now who is not the one loaded before (changed meanwhile): load them too.
    for relationship in PERSON_RELATIONSHIPS:
        person_id, loaded = getattr(incident, f"{relationship}_id"), incident.__dict__.get(relationship)
        if (loaded.id if loaded is not None else None) != person_id:
            person = None if person_id is None else await session.get(User, person_id)
            set_committed_value(incident, relationship, person)
    return incident


def check_if_match(incident: Incident, if_match: EntityTags | None) -> None:
    """412, with the incident as it is, unless If-Match (if sent) names its version. Called under the row's lock,
    so that the version compared is the one the change then replaces."""
    if if_match is None or if_match.matches_strongly(incident.version):
        return
    raise AppError(
        412,
        f"Incident {incident.id} is at version {incident.version}, which If-Match does not name: it changed since "
        "it was read. Nothing was changed; `current` is the incident as it is now.",
        headers={"ETag": etag(incident.version)},
        extra={"current": IncidentRead.model_validate(incident).model_dump(mode="json")},
    )


async def get_incident(session: AsyncSession, incident_id: int, *, include_archived: bool = False) -> Incident:
    """The incident, or NotFound; an archived one is found only when asked for."""
    incident = await session.get(Incident, incident_id, options=WITH_PEOPLE)
    if incident is None or (incident.archived_at is not None and not include_archived):
        raise NotFound(f"Incident {incident_id} not found.")
    return incident


async def read_incident(session: AsyncSession, incident_id: int, *, include_archived: bool = False) -> dict[str, Any]:
    """The incident as a list item (`_page_item`: its fields and people, as `IncidentRead` reads them), or NotFound;
    an archived one is found only when asked for. One statement of plain columns: no ORM entity is built, for the
    routes that only show the incident."""
    row = (await session.execute(_ONE_INCIDENT, {"incident_id": incident_id})).first()
    if row is None or (row.archived_at is not None and not include_archived):
        raise NotFound(f"Incident {incident_id} not found.")
    return _page_item(row)


def _person(user: User | None) -> dict[str, Any] | None:
    """A person as the audit trail records them: {id, display_name} (as the API shows a person), or None."""
    return None if user is None else {"id": user.id, "display_name": user.display_name}


def _snapshot(incident: Incident) -> dict:
    return {field: getattr(incident, field) for field in TRACKED_FIELDS} | {"commander": _person(incident.commander)}


async def _commander(session: AsyncSession, user_id: int | None) -> User | None:
    """The user to put in command (None to clear): one who exists and is active, else a 422 on `commander_id`."""
    if user_id is None:
        return None
    # populate_existing: the user may already be in the session with their name only (as the incident's creator
    # or last editor, read for the answer), and whether they are active must be read, not lazily loaded.
    user = await session.get(User, user_id, populate_existing=True)
    if user is None or not user.is_active:
        error = {
            "loc": ("body", "commander_id"),
            "msg": f"No active user has id {user_id}: a commander must be an active user.",
            "type": "commander_invalid",
        }
        raise RequestValidationError([error])
    return user


def _apply_status(incident: Incident, status: Status, now: datetime) -> None:
    """Lifecycle stamps: MITIGATED stamps `mitigated_at` once; RESOLVED stamps `resolved_at` (and
    `mitigated_at` if it was never set); leaving RESOLVED (a reopening) clears `resolved_at`."""
    if status == Status.MITIGATED and incident.mitigated_at is None:
        incident.mitigated_at = now
    if status == Status.RESOLVED:
        if incident.status != Status.RESOLVED or incident.resolved_at is None:
            incident.resolved_at = now
        if incident.mitigated_at is None:
            incident.mitigated_at = now
    else:
        incident.resolved_at = None
    incident.status = status
    incident.status_rank = status.rank


async def create_incident(session: AsyncSession, data: IncidentCreate, actor: Actor) -> Incident:
    commander = await _commander(session, data.commander_id)
    now = utcnow()
    incident = Incident(
        title=data.title,
        service=data.service,
        severity=data.severity,
        status=Status.OPEN,
        description=data.description,
        created_at=now,
        updated_at=now,
        created_by=actor.user,
        updated_by=actor.user,
        archived_by=None,
        commander=commander,
        version=1,
    )
    _apply_status(incident, data.status, now)
    incident.archived = False
    session.add(incident)
    await session.flush()
    await audit.record(
        session, incident, actor, EventAction.CREATED, changes=audit.diff({}, _snapshot(incident)), at=now
    )
    await _move(session, None, _group(incident))
    await metrics.move(session, None, metrics.Facts.of(incident))
    return incident


async def update_incident(
    session: AsyncSession, incident: Incident, data: IncidentUpdate, actor: Actor, if_match: EntityTags | None = None
) -> Incident:
    """Apply the fields that were sent, if If-Match (when sent) names the incident's version. Only a real change
    moves `updated_at` and `version` and writes an event; a `note` sent along goes into that event, or, when
    nothing changed, is added as a note of its own (the version stays, as for any note)."""
    changes = data.model_dump(exclude_unset=True)
    note = changes.pop("note", None)
    # Read the row as committed, and hold it: the version compared and raised, and the count group left, are
    # those of the row this change replaces.
    await _lock(session, incident)
    if incident.archived_at is not None:
        raise NotFound(f"Incident {incident.id} not found.")
    check_if_match(incident, if_match)
    group, facts = _group(incident), metrics.Facts.of(incident)
    before = _snapshot(incident)
    now = utcnow()
    for field in ("title", "service", "severity", "description"):
        if field in changes:
            setattr(incident, field, changes[field])
    if "status" in changes and changes["status"] != incident.status:
        _apply_status(incident, changes["status"], now)
    if "commander_id" in changes and changes["commander_id"] != incident.commander_id:
        incident.commander = await _commander(session, changes["commander_id"])
    changed = audit.diff(before, _snapshot(incident))
    if changed:
        incident.updated_at = now
        incident.updated_by = actor.user
        incident.version += 1
        await session.flush()
        await audit.record(session, incident, actor, EventAction.UPDATED, changes=changed, note=note, at=now)
        if _group(incident) != group:
            await _move(session, group, _group(incident))
        await metrics.move(session, facts, metrics.Facts.of(incident))
    elif note is not None:
        await add_note(session, incident, actor, note)
    return incident


async def add_note(session: AsyncSession, incident: Incident, actor: Actor, text: str) -> IncidentEvent:
    return await audit.record(session, incident, actor, EventAction.NOTE_ADDED, note=text)


async def archive_incident(
    session: AsyncSession, incident: Incident, actor: Actor, if_match: EntityTags | None = None
) -> Incident:
    """Hide the incident from everyone but admins; the row and its history stay."""
    await _lock(session, incident)
    if incident.archived_at is not None:  # archived by another request meanwhile
        raise NotFound(f"Incident {incident.id} not found.")
    check_if_match(incident, if_match)
    group, facts = _group(incident), metrics.Facts.of(incident)
    now = utcnow()
    incident.version += 1
    incident.archived = True
    incident.archived_at = now
    incident.archived_by = actor.user
    await session.flush()
    changes = audit.diff({"archived_at": None}, {"archived_at": now})
    await audit.record(session, incident, actor, EventAction.ARCHIVED, changes=changes, at=now)
    await _move(session, group, _group(incident))
    await metrics.move(session, facts, metrics.Facts.of(incident))
    return incident


async def restore_incident(
    session: AsyncSession, incident: Incident, actor: Actor, if_match: EntityTags | None = None
) -> Incident:
    await _lock(session, incident)
    check_if_match(incident, if_match)
    if incident.archived_at is None:
        raise AppError(409, f"Incident {incident.id} is not archived.")
    group, facts = _group(incident), metrics.Facts.of(incident)
    incident.version += 1
    before = incident.archived_at
    incident.archived = False
    incident.archived_at = None
    incident.archived_by = None
    await session.flush()
    changes = audit.diff({"archived_at": before}, {"archived_at": None})
    await audit.record(session, incident, actor, EventAction.RESTORED, changes=changes)
    await _move(session, group, _group(incident))
    await metrics.move(session, facts, metrics.Facts.of(incident))
    return incident
