"""The live feed of one API process (`/api/live`, see README "Live feed").

The outbox (`services/outbox.py`) holds every committed change in commit order. Each process runs one reader that
reads the rows it has not seen, once, and fans each out to its connections: an admin gets the event, anyone else
the event of a live incident, `removed` for an archive, and nothing about an archived incident. Each message is
encoded once per audience, not once per connection.

The reader wakes when told (the doorbell: a commit in this process, or a message on Redis from another one) and
every LIVE_POLL_SECONDS regardless, so a lost doorbell only delays. Redis is only the doorbell: a commit never waits
for it (a publisher task rings it on the writer's behalf, with a short timeout), and a subscriber task reconnects
with backoff when it is gone.

Each connection has a bounded queue; a client that lets it fill up is dropped (4408) and resumes with its cursor.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis
from sqlalchemy import Row, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.config import Settings
from app.database import is_unreachable
from app.models import EventAction, Role, User
from app.security import InvalidToken, decode_access_token
from app.services import outbox

logger = logging.getLogger(__name__)

# Close codes (README "Live feed").
UNAUTHORIZED = 4401  # no valid token in time, the token expired, the account was deactivated or its password changed
BAD_REQUEST = 4400  # a first message that is not an auth message, or a cursor this feed did not make
TOO_SLOW = 4408  # the client did not keep up: reconnect with the last cursor
GOING_AWAY = 1001  # the server is shutting down
TRY_AGAIN_LATER = 1013  # the feed has not reached the database yet, or it is down: reconnect with the last cursor
INTERNAL_ERROR = 1011  # a database error other than "it does not answer" while the connection started

READ_BATCH = 500
PRUNE_EVERY_SECONDS = 60.0
CLOSE_TIMEOUT_SECONDS = 5.0
STARTING_TIMEOUT_SECONDS = 5.0
PING = '{"type":"ping"}'
PING_POSITION = -1  # a ping in a connection's queue: no position of the stream
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(eq=False)
class Connection:
    """One authenticated client."""

    websocket: WebSocket
    user_id: int
    role: Role
    token_version: int
    expires_at: float  # POSIX seconds: the token's exp
    queue: asyncio.Queue[tuple[int, str]]
    sent: int = 0  # the last position sent (or resumed from): anything at or before it is not sent again
    last_sent: float = field(default_factory=time.monotonic)  # when the client last got a message (for pings)
    close_code: int | None = None
    close_reason: str = ""
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def offer(self, position: int, text: str) -> None:
        try:
            self.queue.put_nowait((position, text))
        except asyncio.QueueFull:
            self.drop(TOO_SLOW, "too slow: reconnect with the last cursor")

    def drop(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.dropped.set()


def _messages(row: Row) -> tuple[str, str | None]:
    """A live event's message for admins, and for everyone else (None: nothing)."""
    cursor = outbox.encode_cursor(row.position)
    full = f'{{"type":"event","cursor":"{cursor}","event":{row.event},"incident":{row.incident}}}'
    if not row.archived:
        return full, full
    if row.action == EventAction.ARCHIVED.value:
        return full, json.dumps({"type": "removed", "cursor": cursor, "incident_id": row.incident_id})
    return full, None


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class _Trouble:
    """A background loop's failures, said once per outage (not once per retry), and its recovery."""

    def __init__(self, work: str) -> None:
        self.work = work
        self.failing = False

    def failed(self, exc: Exception) -> None:
        if self.failing:
            return
        self.failing = True
        if is_unreachable(exc):
            logger.warning("live feed: the database is not answering (%s); retrying", type(exc).__name__)
        else:
            logger.exception("live feed: %s failed; retrying", self.work)

    def works(self, news: str) -> None:
        if self.failing:
            self.failing = False
            logger.info("live feed: the database answers; %s", news)


class LiveHub:
    """The live feed of this process: its connections, its outbox reader and its Redis doorbell."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.position = 0  # the last position fanned out
        self.connections: set[Connection] = set()
        self._wake = asyncio.Event()
        self._positioned = asyncio.Event()  # set once the head is known
        self._publish_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._channel = f"{settings.redis_prefix}:live"
        self._redis_down = False

    # --- life cycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        # Made here, not in __init__: an asyncio primitive belongs to the event loop that first waits on it, and an
        # app may be started more than once (each on a loop of its own, as the tests do).
        # The head is read by the reader, not here: an API whose database is down still starts (and answers 503).
        self._wake, self._publish_wanted, self._positioned = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.connections = set()
        self._tasks = [
            asyncio.create_task(self._read_loop()),
            asyncio.create_task(self._account_loop()),
            asyncio.create_task(self._keepalive_loop()),
        ]
        if self.settings.redis_url:
            self._tasks += [asyncio.create_task(self._subscribe_loop()), asyncio.create_task(self._publish_loop())]

    async def stop(self) -> None:
        for connection in list(self.connections):
            connection.drop(GOING_AWAY, "server shutting down")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def ring(self) -> None:
        """Something was committed: read the outbox now, and tell the other processes (never waits)."""
        self._wake.set()
        if self.settings.redis_url:
            self._publish_wanted.set()

    # --- the reader ----------------------------------------------------------------------------------------

    async def _find_head(self) -> None:
        """Start after the last committed change, once the database answers (saying so once while it does not)."""
        trouble = _Trouble("reading the outbox's head")
        while True:
            try:
                async with self.engine.connect() as connection:
                    self.position = await outbox.head(connection)
            except Exception as exc:
                trouble.failed(exc)
                await asyncio.sleep(1.0)
            else:
                trouble.works("the feed starts")
                self._positioned.set()
                return

    async def _read_loop(self) -> None:
        await self._find_head()
        trouble = _Trouble("reading the outbox")
        last_prune = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.live_poll_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.read_new()
                if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                    last_prune = time.monotonic()
                    async with self.engine.begin() as connection:
                        await outbox.prune(connection, self.settings.live_retention_changes)
            except Exception as exc:
                trouble.failed(exc)
                await asyncio.sleep(1.0)
            else:
                trouble.works("the feed goes on")

    async def read_new(self) -> None:
        """Fan out every committed live event after the last one fanned out, in position order."""
        while True:
            async with self.engine.connect() as connection:
                rows = await outbox.rows_after(connection, self.position, limit=READ_BATCH)
            for row in rows:
                self._fan_out(row)
            if len(rows) < READ_BATCH:
                return

    def _fan_out(self, row: Row) -> None:
        # No await in here: a connection that registers meanwhile starts either before or after this row.
        admins, others = _messages(row)
        for connection in list(self.connections):
            text = admins if connection.is_admin else others
            if text is not None:
                connection.offer(row.position, text)
        self.position = row.position

    # --- accounts ------------------------------------------------------------------------------------------

    async def _account_loop(self) -> None:
        trouble = _Trouble("checking the accounts")
        while True:
            await asyncio.sleep(self.settings.live_account_check_seconds)
            try:
                await self.check_accounts()
            except Exception as exc:
                trouble.failed(exc)
            else:
                trouble.works("the accounts are checked again")

    async def check_accounts(self) -> None:
        """One query for every connection of the process: drop those whose account is gone, deactivated or has a
        new token version (password change); follow role changes."""
        connections = list(self.connections)
        if not connections:
            return
        ids = {connection.user_id for connection in connections}
        query = select(User.id, User.is_active, User.token_version, User.role).where(User.id.in_(ids))
        async with self.engine.connect() as db:
            accounts = {row.id: row for row in await db.execute(query)}
        for connection in connections:
            account = accounts.get(connection.user_id)
            if account is None or not account.is_active or account.token_version != connection.token_version:
                connection.drop(UNAUTHORIZED, "the account was deactivated or its password changed")
            else:
                connection.role = Role(account.role)

    async def _keepalive_loop(self) -> None:
        """Ping the connections that have been quiet for LIVE_PING_SECONDS and end those whose token expired: one
        sweep over all connections, so sending a message needs no timer of its own."""
        ping_seconds = self.settings.live_ping_seconds
        while True:
            await asyncio.sleep(min(1.0, ping_seconds / 2))
            now, wall = time.monotonic(), time.time()
            for connection in list(self.connections):
                if connection.expires_at <= wall:
                    connection.drop(UNAUTHORIZED, "the access token expired")
                elif now - connection.last_sent >= ping_seconds and connection.queue.empty():
                    connection.last_sent = now
                    connection.offer(PING_POSITION, PING)

    # --- Redis: the doorbell between processes --------------------------------------------------------------

    async def _publish_loop(self) -> None:
        client = redis.Redis.from_url(
            self.settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            while True:
                await self._publish_wanted.wait()
                self._publish_wanted.clear()
                try:
                    async with asyncio.timeout(REDIS_TIMEOUT_SECONDS * 2):
                        await client.publish(self._channel, "1")
                    self._redis_ok()
                except (redis.RedisError, OSError, TimeoutError) as exc:
                    self._redis_failed(exc)
                    await asyncio.sleep(REDIS_TIMEOUT_SECONDS)
        finally:
            await client.aclose()

    async def _subscribe_loop(self) -> None:
        backoff = 0.25
        while True:
            client = redis.Redis.from_url(
                self.settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, health_check_interval=5
            )
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    backoff = 0.25
                    self._redis_ok()
                    self._wake.set()  # catch up with what was rung while we were not listening
                    async for _message in pubsub.listen():
                        self._wake.set()
            except (redis.RedisError, OSError, TimeoutError) as exc:
                self._redis_failed(exc)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _redis_failed(self, exc: BaseException) -> None:
        if not self._redis_down:
            self._redis_down = True
            logger.warning("live feed: Redis is unreachable (%s); polling the outbox until it is back", exc)

    def _redis_ok(self) -> None:
        if self._redis_down:
            self._redis_down = False
            logger.info("live feed: Redis is back")

    # --- one connection ------------------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        """Run an accepted WebSocket: authenticate, resume or start at the head, then send until either side ends."""
        try:
            connection = await self._authenticate(websocket)
        except SQLAlchemyError as exc:
            await _close(websocket, *_database_failure(exc))
            return
        if connection is None:
            return
        try:
            await self._start(connection)
            if connection.close_code is None:
                await self._run(connection)
        except SQLAlchemyError as exc:
            connection.drop(*_database_failure(exc))
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client went away
        finally:
            self.connections.discard(connection)
        if connection.close_code is not None:
            await _close(websocket, connection.close_code, connection.close_reason)

    async def _run(self, connection: Connection) -> None:
        """Send the stream and read what the client sends, until it goes away or the hub drops it."""
        sender = asyncio.create_task(self._send_loop(connection))
        receiver = asyncio.create_task(self._receive_loop(connection))
        dropped = asyncio.create_task(connection.dropped.wait())
        _done, pending = await asyncio.wait({sender, receiver, dropped}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in (sender, receiver, dropped):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError):
                await task

    async def _authenticate(self, websocket: WebSocket) -> Connection | None:
        settings = self.settings
        try:
            async with asyncio.timeout(settings.live_auth_timeout_seconds):
                message = await websocket.receive()
        except TimeoutError:
            await _close(websocket, UNAUTHORIZED, "no auth message in time")
            return None
        if message["type"] == "websocket.disconnect":
            return None
        try:
            body = json.loads(message.get("text") or "")
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("type") != "auth":
            await _close(websocket, UNAUTHORIZED, 'the first message must be {"type": "auth", "token": ...}')
            return None
        token, after = body.get("token"), body.get("after")
        try:
            if not isinstance(token, str) or not token:
                raise InvalidToken("no token")
            claims = decode_access_token(token, settings.secret_key)
        except InvalidToken:
            await _close(websocket, UNAUTHORIZED, "the access token is missing, invalid or expired")
            return None
        user = None
        if claims.subject.isdecimal() and len(claims.subject) < 19:
            query = select(User.id, User.is_active, User.token_version, User.role).where(User.id == int(claims.subject))
            async with self.engine.connect() as db:
                user = (await db.execute(query)).first()
        if user is None or not user.is_active or user.token_version != claims.version:
            await _close(websocket, UNAUTHORIZED, "the account is gone, disabled, or the token is outdated")
            return None
        try:
            resume = None if after is None else outbox.decode_cursor(after)
        except outbox.InvalidCursor:
            await _close(websocket, BAD_REQUEST, "after is not a cursor of this feed")
            return None
        connection = Connection(
            websocket=websocket,
            user_id=user.id,
            role=Role(user.role),
            token_version=claims.version,
            expires_at=claims.expires_at,
            queue=asyncio.Queue(maxsize=settings.live_queue_size),
        )
        connection.sent = -1 if resume is None else resume
        return connection

    async def _start(self, connection: Connection) -> None:
        """Join the stream, then say where it starts: at the head, or after the client's cursor with every change
        since replayed from the outbox (or `resync` when the outbox no longer holds that far back)."""
        try:
            async with asyncio.timeout(STARTING_TIMEOUT_SECONDS):
                await self._positioned.wait()
        except TimeoutError:
            connection.drop(TRY_AGAIN_LATER, "the live feed is starting: reconnect with the last cursor")
            return
        # Registering and reading the position happen together (no await between): the queue gets every row after
        # `start`, the replay reads those up to it.
        start = self.position
        self.connections.add(connection)
        websocket = connection.websocket
        after = connection.sent
        if after < 0:
            connection.sent = start
            await websocket.send_text(_text({"type": "ready", "cursor": outbox.encode_cursor(start)}))
            return
        async with self.engine.connect() as db:
            last, first = await outbox.head(db), await outbox.oldest(db)
        kept_from = (last + 1) if first is None else first
        if after > last or after + 1 < kept_from:
            connection.sent = start
            await websocket.send_text(_text({"type": "ready", "cursor": outbox.encode_cursor(start)}))
            await websocket.send_text(_text({"type": "resync"}))
            return
        await websocket.send_text(_text({"type": "ready", "cursor": outbox.encode_cursor(after)}))
        while connection.sent < start:
            async with self.engine.connect() as db:
                rows = await outbox.rows_after(db, connection.sent, upto=start, limit=READ_BATCH)
            if not rows:
                break
            await self._replay(connection, rows)

    async def _replay(self, connection: Connection, rows: Sequence[Row]) -> None:
        for row in rows:
            admins, others = _messages(row)
            text = admins if connection.is_admin else others
            if text is not None:
                await connection.websocket.send_text(text)
            connection.sent = row.position

    async def _send_loop(self, connection: Connection) -> None:
        """Send what the queue holds, in order (pings and expiry: `_keepalive_loop`)."""
        websocket, queue = connection.websocket, connection.queue
        if connection.expires_at <= time.time():
            connection.drop(UNAUTHORIZED, "the access token expired")
            return
        while True:
            position, text = await queue.get()
            if position == PING_POSITION:
                await websocket.send_text(text)
                continue
            if position <= connection.sent:
                continue  # replayed already
            await websocket.send_text(text)
            connection.sent, connection.last_sent = position, time.monotonic()

    async def _receive_loop(self, connection: Connection) -> None:
        """Read (and ignore) what the client sends, until it goes away."""
        while True:
            message = await connection.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


def _database_failure(exc: SQLAlchemyError) -> tuple[int, str]:
    """Log, once, why a connection could not start, and the close code that tells its client."""
    if is_unreachable(exc):
        logger.warning("live feed: the database is not answering (%s); a connection closes 1013", type(exc).__name__)
        return TRY_AGAIN_LATER, "the database is not answering: reconnect with the last cursor"
    logger.error("live feed: a database error while a connection started", exc_info=exc)
    return INTERNAL_ERROR, "internal error"


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await websocket.close(code, reason)
