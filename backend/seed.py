"""Seed the database with realistic incidents.

python seed.py                 # 200 incidents, only into an empty database
python seed.py --count 100000  # bulk: inserted in batches
python seed.py --force         # add even when incidents already exist
"""

import argparse
import random
import sys
import time
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.database import create_db_engine, utcnow
from app.models import EventAction, Incident, IncidentEvent, Role, Severity, Status, User

BATCH_SIZE = 5_000

SERVICES = [
    "payments-api",
    "checkout-web",
    "auth-service",
    "search-indexer",
    "notifications",
    "inventory-db",
    "orders-api",
    "cdn-edge",
    "billing-worker",
    "mobile-gateway",
    "recommendations",
    "image-resizer",
    "kafka-cluster",
    "user-profile",
    "shipping-rates",
]
SYMPTOMS = [
    "Elevated 5xx error rate",
    "p99 latency above SLO",
    "Timeouts talking to the database",
    "Memory leak after deploy",
    "Certificate expiring in 48 hours",
    "Queue backlog growing",
    "Partial outage in eu-west-1",
    "Disk usage at 95%",
    "Stale cache served to users",
    "Spike in failed logins",
    "Replica lag over 5 minutes",
    "Health checks flapping",
    "Third-party API rate limiting us",
    "Cron job did not run",
    "Pods crash-looping",
]
CAUSES = [
    "Started right after the 14:05 deploy; rollback is being evaluated.",
    "Correlates with a traffic spike from a marketing campaign.",
    "A config change to connection pool sizes is the main suspect.",
    "Upstream provider acknowledged degraded performance on their status page.",
    "Alert fired from the synthetic checks; customers reported it on support too.",
    "",
]
SEVERITY_WEIGHTS = {Severity.SEV1: 1, Severity.SEV2: 3, Severity.SEV3: 5, Severity.SEV4: 4}


def build_incident(rng: random.Random, now: datetime, people: list[int | None]) -> dict:
    """One incident whose lifecycle times are consistent with its status and never in the future."""
    created = now - timedelta(seconds=rng.randint(60, 90 * 24 * 3600))
    age = now - created
    # Older incidents are more likely to be over.
    resolved_share = min(0.9, age / timedelta(days=30))
    roll = rng.random()
    status = Status.RESOLVED if roll < resolved_share else rng.choice([Status.OPEN, Status.MITIGATED])
    mitigated_at = resolved_at = None
    if status in (Status.MITIGATED, Status.RESOLVED):
        mitigated_at = created + (age * rng.uniform(0.01, 0.4))
    if status == Status.RESOLVED:
        resolved_at = mitigated_at + ((now - mitigated_at) * rng.uniform(0.05, 0.6))
    service = rng.choice(SERVICES)
    cause = rng.choice(CAUSES)
    return {
        "title": f"{rng.choice(SYMPTOMS)} on {service}",
        "service": service,
        "severity": rng.choices(list(SEVERITY_WEIGHTS), weights=list(SEVERITY_WEIGHTS.values()))[0],
        "status": status,
        "description": cause or None,
        "created_at": created,
        "updated_at": resolved_at or mitigated_at or created,
        "mitigated_at": mitigated_at,
        "resolved_at": resolved_at,
        "created_by_id": rng.choice(people),
        "updated_by_id": rng.choice(people),
    }


def _value(value: object) -> object:
    return value.value if isinstance(value, Enum) else value.isoformat() if isinstance(value, datetime) else value


def history(incident_id: int, row: dict) -> list[dict]:
    """The audit events that tell how a seeded incident got where it is: created, then each status change."""
    opened = {
        field: {"old": None, "new": _value(row[field])} for field in ("title", "service", "severity", "description")
    }
    opened["status"] = {"old": None, "new": Status.OPEN.value}
    events = [
        {
            "incident_id": incident_id,
            "actor_id": row["created_by_id"],
            "action": EventAction.CREATED,
            "changes": opened,
            "created_at": row["created_at"],
        }
    ]
    status = Status.OPEN
    for new_status, at in ((Status.MITIGATED, row["mitigated_at"]), (Status.RESOLVED, row["resolved_at"])):
        if at is None:
            continue
        changes = {
            "status": {"old": status.value, "new": new_status.value},
            f"{new_status.value.lower()}_at": {"old": None, "new": at.isoformat()},
        }
        events.append(
            {
                "incident_id": incident_id,
                "actor_id": row["updated_by_id"],
                "action": EventAction.UPDATED,
                "changes": changes,
                "created_at": at,
            }
        )
        status = new_status
    return events


def seed(session: Session, count: int, *, force: bool = False, rng: random.Random | None = None) -> int:
    """Insert `count` incidents, and the audit events of their history, in batches; on a non-empty table insert
    nothing unless `force`. The people are the active responders and admins (none: events with no actor).
    Returns the number of incidents added."""
    existing = session.scalar(select(func.count()).select_from(Incident)) or 0
    if existing and not force:
        return 0
    rng = rng or random.Random()
    now = utcnow()
    people: list[int | None] = list(
        session.scalars(select(User.id).where(User.is_active.is_(True), User.role.in_([Role.RESPONDER, Role.ADMIN])))
    ) or [None]
    added = 0
    while added < count:
        rows = [build_incident(rng, now, people) for _ in range(min(BATCH_SIZE, count - added))]
        last_id = session.scalar(select(func.max(Incident.id))) or 0
        session.execute(insert(Incident.__table__), rows)
        # A seed runs alone, so the batch's ids are the ones after last_id, in the order of the rows.
        ids = session.scalars(select(Incident.id).where(Incident.id > last_id).order_by(Incident.id)).all()
        if len(ids) != len(rows):
            raise RuntimeError("Incidents were added while seeding; run the seed script alone.")
        session.execute(
            insert(IncidentEvent.__table__),
            [event for i, row in zip(ids, rows, strict=True) for event in history(i, row)],
        )
        added += len(rows)
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="how many incidents to add (default 200)")
    parser.add_argument("--force", action="store_true", help="add incidents even if the table is not empty")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible data set")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")

    engine = create_db_engine(get_settings().database_url)
    started = time.perf_counter()
    with Session(engine) as session, session.begin():
        added = seed(session, args.count, force=args.force, rng=random.Random(args.seed))
    engine.dispose()
    if added == 0:
        print("The database already has incidents; nothing added (use --force to add more).")
    else:
        print(f"Seeded {added} incidents in {time.perf_counter() - started:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
