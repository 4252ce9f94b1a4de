"""Pydantic schemas: what the API accepts and returns."""

import functools
import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    create_model,
)
from pydantic_core import PydanticCustomError

from app.models import EventAction, Role, Severity, Status


def _strip_not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("string_blank", "Must not be blank")
    return value


# "Has a character that is not white space", white space being exactly what str.strip() removes. The characters
# are listed rather than written `\S`, whose meaning differs between Python, JavaScript and Rust regex engines.
NOT_BLANK = "[^" + "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace()) + "]"


# Control characters (Unicode's Cc: C0, DEL and C1) other than tab and line feed, which no text field accepts.
_CONTROL = "\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f"
_CONTROL_CHARACTER = re.compile(f"[{_CONTROL}]")
# The patterns the schema shows for them, anchored: a character of one line, and a character of several lines (where
# a CR LF is a line feed too). Blank is refused by a required field, so its pattern also asks for one character that
# is neither white space nor control.
_LINE_CHAR = f"[^{_CONTROL}]"
_LINES_CHAR = f"(?:{_LINE_CHAR}|\\r\\n)"
_NOT_BLANK_CHAR = NOT_BLANK.replace("[^", f"[^{_CONTROL}", 1)
LINE_PATTERN = f"^{_LINE_CHAR}*$"
LINES_PATTERN = f"^{_LINES_CHAR}*$"


def _no_control(value: object) -> object:
    """Refuse control characters other than tab and line feed (before white space is stripped: `\\r` is one)."""
    if isinstance(value, str) and _CONTROL_CHARACTER.search(value):
        raise PydanticCustomError(
            "string_control_character", "Must not contain control characters (other than tab and line feed)"
        )
    return value


def _lines(value: object) -> object:
    """Several lines: CR LF becomes LF, then no other control character than tab and line feed."""
    return _no_control(value.replace("\r\n", "\n") if isinstance(value, str) else value)


def required_text(max_length: int, *, multiline: bool = False) -> Any:
    """Text that must not be blank nor hold control characters, stored without surrounding white space. The schema
    says so too (a pattern), so generated clients and fuzzers know what is refused."""
    char = _LINES_CHAR if multiline else _LINE_CHAR
    return Annotated[
        str,
        Field(min_length=1, max_length=max_length, json_schema_extra={"pattern": f"^{char}*{_NOT_BLANK_CHAR}{char}*$"}),
        BeforeValidator(_lines if multiline else _no_control),
        AfterValidator(_strip_not_blank),
    ]


Title = required_text(200)
ServiceName = required_text(100)


def _blank_to_none(value: str | None) -> str | None:
    return value or None


Description = Annotated[
    Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=10_000),
        Field(json_schema_extra={"pattern": LINES_PATTERN}),
        BeforeValidator(_lines),
    ]
    | None,
    AfterValidator(_blank_to_none),
]

SORTABLE_COLUMNS = ("id", "title", "service", "severity", "status", "created_at", "updated_at", "commander")
SortColumn = Literal["id", "title", "service", "severity", "status", "created_at", "updated_at", "commander"]

# A user's id, as a query names one (text), and as a body does: a JSON integer (not `true`, not `1.0`).
UserId = Annotated[int, Field(ge=1, le=2_147_483_647)]
BodyUserId = Annotated[StrictInt, Field(ge=1, le=2_147_483_647)]


class StrictBody(BaseModel):
    """Request bodies reject unknown and server-owned fields (id, timestamps) instead of ignoring them."""

    model_config = ConfigDict(extra="forbid")


class IncidentCreate(StrictBody):
    title: Title
    service: ServiceName
    severity: Severity
    status: Status = Status.OPEN
    description: Description = None
    commander_id: BodyUserId | None = Field(None, description="Who owns the incident: an active user's id, or null.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Checkout latency above 2 s",
                    "service": "payments-api",
                    "severity": "SEV2",
                    "description": "p99 latency doubled after the 14:05 deploy.",
                }
            ]
        }
    )


class IncidentUpdate(StrictBody):
    """Only the fields sent change. `null` is refused for fields that cannot be empty."""

    title: Title = None  # type: ignore[assignment]  # absent means unchanged; null is a 422
    service: ServiceName = None  # type: ignore[assignment]
    severity: Severity = None  # type: ignore[assignment]
    status: Status = None  # type: ignore[assignment]
    description: Description = None
    commander_id: BodyUserId | None = Field(None, description="An active user's id to take command; null to clear it.")
    note: required_text(10_000, multiline=True) = Field(  # type: ignore[valid-type]
        None,
        description="Why, in the same action: the note goes into the change's own event (`updated`), in the same "
        "transaction. With no change to make, it is added as a note (`note_added`) and the version stays.",
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "MITIGATED"}, {"status": "RESOLVED", "note": "Rolled back 14:05."}]}
    )


class UserRef(BaseModel):
    """Who did something, as shown next to it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    display_name: str


class IncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    service: str
    severity: Severity
    status: Status
    description: str | None
    created_at: datetime
    updated_at: datetime
    mitigated_at: datetime | None
    resolved_at: datetime | None
    created_by: UserRef | None
    updated_by: UserRef | None
    archived_at: datetime | None
    archived_by: UserRef | None
    commander: UserRef | None = Field(description="Who owns the incident; null when no one does.")
    version: int = Field(description='1 on create, +1 on every change to the incident; its ETag is `"<version>"`.')


class PageParams(BaseModel):
    page: int = Field(1, ge=1, le=2_147_483_647)
    limit: int = Field(20, ge=1, le=100)


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list, with the total that match and the number of pages."""

    items: list[ItemT]
    total: int
    page: int
    limit: int
    pages: int

    @classmethod
    def of(cls, items: list[ItemT], total: int, params: PageParams) -> "Page[ItemT]":
        return cls(items=items, total=total, page=params.page, limit=params.limit, pages=-(-total // params.limit))


class IncidentListParams(PageParams):
    """Query parameters of `GET /api/incidents/`. `severity` and `status` may repeat (any of them matches)."""

    search: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=200),
            Field(json_schema_extra={"pattern": LINE_PATTERN}),
            BeforeValidator(_no_control),
        ]
        | None
    ) = Field(None, description="Case-insensitive substring of the title or the service.")
    severity: list[Severity] = Field(default_factory=list)
    status: list[Status] = Field(default_factory=list)
    commander: UserId | Literal["me", "none"] | None = Field(
        None,
        description="The incidents this user commands: a user's id, `me` (the caller) or `none` (no commander).",
    )
    sort_by: SortColumn = Field(
        "created_at",
        description="`commander` sorts by the commander's id; incidents without one come first ascending, "
        "last descending.",
    )
    sort_order: Literal["asc", "desc"] = "desc"
    archived: bool = Field(False, description="Admins only: list the archived incidents instead.")
    cursor: str | None = Field(
        None,
        max_length=1024,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `next_cursor` of the previous page, made with the same sort: the page after it "
        "(keyset, as cheap at any depth). With a cursor, `page` is only echoed back.",
    )


class IncidentPage(Page[IncidentRead]):
    """A page of incidents. Without search `total` is exact; with search at most a bound is counted, and a total
    that reaches it is a lower bound (`total_exact` false)."""

    total_exact: bool = Field(description="False when `total` is only a lower bound (a search with many matches).")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")

    @classmethod
    def of_result(cls, items: list[IncidentRead], result: Any, params: IncidentListParams) -> "IncidentPage":
        return cls(
            items=items,
            total=result.total,
            page=params.page,
            limit=params.limit,
            pages=-(-result.total // params.limit),
            total_exact=result.total_exact,
            next_cursor=result.next_cursor,
        )


# --- accounts ------------------------------------------------------------------------------------------------

DisplayName = required_text(100)
# Never truncated: a password longer than 128 characters is refused, not cut.
Password = Annotated[str, Field(min_length=8, max_length=128)]


# Control characters (Unicode's Cc) and format characters (Cf: zero-width spaces and joiners, bidi controls, the
# soft hyphen, ...): invisible, or no text at all. No email address holds one, and a database collation may ignore
# them, which would let an address with one open the account without it.
_INVISIBLE_CATEGORIES = ("Cc", "Cf")


def _is_invisible(char: str) -> bool:
    return unicodedata.category(char) in _INVISIBLE_CATEGORIES


def _char_class(chars: list[str]) -> str:
    """A regex character class of these characters, as ranges: `\\uXXXX` escapes, `\\UXXXXXXXX` past the BMP."""
    ranges: list[list[int]] = []
    for code in map(ord, chars):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])

    def escape(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return "".join(escape(low) if low == high else f"{escape(low)}-{escape(high)}" for low, high in ranges)


@functools.cache
def visible_pattern() -> str:
    """The schema's pattern of a text without control or format characters. Made when the schema is first built,
    not at import: it reads the category of every code point (a third of a second)."""
    invisible = [chr(code) for code in range(0x110000) if _is_invisible(chr(code))]
    return f"^[^{_char_class(invisible)}]*$"


def with_visible_pattern(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of a field that refuses control and format characters (`refuse_invisible`)."""
    schema["pattern"] = visible_pattern()


def refuse_invisible(value: object) -> object:
    """Refuse a control or format character anywhere (before white space is trimmed: some controls are white space
    to `str.strip()`, and a trimmed one would go unseen)."""
    if isinstance(value, str) and (found := next((char for char in value if _is_invisible(char)), None)):
        raise PydanticCustomError(
            "string_invisible_character",
            "Must not contain control or invisible characters (found U+{code})",
            {"code": f"{ord(found):04X}"},
        )
    return value


EMAIL_MAX_LENGTH = 254


def normalize_email(value: str) -> str:
    """The one form in which an email is stored and compared (byte for byte, on every database): surrounding white
    space trimmed, the address checked by email-validator (its syntax rules, no DNS look-up), Unicode NFC, the local
    part lower-cased (addresses are case-insensitive here, as they always were), the domain lower-cased and
    IDNA-encoded (`exämple.com` is `xn--exmple-cua.com`). Raises EmailNotValidError for what is not an address;
    control and format characters are refused before (`refuse_invisible`)."""
    refuse_invisible(value)
    checked = validate_email(value.strip(), check_deliverability=False)
    address = unicodedata.normalize("NFC", checked.local_part.lower()) + "@" + checked.ascii_domain
    if len(address) > EMAIL_MAX_LENGTH:
        raise EmailNotValidError(f"The address is too long with its domain IDNA-encoded ({len(address)} characters).")
    return address


def sign_in_email(value: str) -> str:
    """The account a sign-in names, in `normalize_email`'s form. What is not an address (which no account holds)
    is only trimmed, NFC and lower-cased, so that its failures still count as one name's."""
    refuse_invisible(value)
    try:
        return normalize_email(value)
    except EmailNotValidError:
        return unicodedata.normalize("NFC", value.strip()).lower()


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from exc


def _any_case(word: str) -> str:
    return "".join(f"[{char.upper()}{char}]" for char in word)


# What email-validator refuses that the `email` format allows, as a pattern the address must not match: a domain
# without a period, and the special-use domains (RFC 6761: .test, .local, .invalid, ...) and their subdomains.
NOT_AN_EMAIL_DOMAIN = "@[^.]*$|[@.](" + "|".join(map(_any_case, SPECIAL_USE_DOMAIN_NAMES)) + ")$"

Email = Annotated[
    str,
    Field(
        max_length=254,
        json_schema_extra={"format": "email", "not": {"pattern": NOT_AN_EMAIL_DOMAIN}},
        description="Stored and compared in one form: trimmed, NFC, lower-cased, the domain IDNA-encoded (`xn--`). "
        "Control and invisible characters are refused. The domain needs a period; special-use domains "
        f"({', '.join('.' + name for name in SPECIAL_USE_DOMAIN_NAMES)}) and their subdomains are refused.",
    ),
    BeforeValidator(refuse_invisible),
    AfterValidator(_email),
]


def _iso_time_only(value: object) -> object:
    """Refuse numbers (which pydantic would read as Unix time): times are ISO 8601 with an offset."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("give a time as ISO 8601 with an offset, e.g. 2026-11-27T03:00:00Z")
    return value


def _utc_can_show(value: datetime) -> datetime:
    """Refuse a time that UTC cannot show (before year 1 or after 9999 there): the database compares in UTC."""
    try:
        value.astimezone(UTC)
    except OverflowError as exc:
        raise PydanticCustomError(
            "datetime_out_of_range", "Time out of range: in UTC it falls before year 1 or after year 9999"
        ) from exc
    return value


_NUMBER = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?")
IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_time_only), AfterValidator(_utc_can_show)]


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires.")


class Me(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    role: Role


class UserRead(Me):
    is_active: bool
    created_at: datetime
    updated_at: datetime


class UserCreate(StrictBody):
    email: Email
    display_name: DisplayName
    role: Role
    password: Password

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "sam@example.com",
                    "display_name": "Sam Rivera",
                    "role": "responder",
                    "password": "correct horse battery",
                }
            ]
        }
    )


class UserUpdate(StrictBody):
    display_name: DisplayName = None  # type: ignore[assignment]
    role: Role = None  # type: ignore[assignment]
    password: Password = None  # type: ignore[assignment]
    is_active: StrictBool = None  # type: ignore[assignment]


UserPage = Page[UserRead]


class PeopleParams(BaseModel):
    """Query parameters of `GET /api/people`: who can be named (a commander), for any signed-in role."""

    search: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=100),
            Field(json_schema_extra={"pattern": LINE_PATTERN}),
            BeforeValidator(_no_control),
        ]
        | None
    ) = Field(None, description="Case-insensitive substring of the display name.")
    limit: int = Field(50, ge=1, le=100)


class PeoplePage(BaseModel):
    """Active people, by display name (then id): each as `{id, display_name}`, never with an email or a role."""

    items: list[UserRef]


# --- audit trail ---------------------------------------------------------------------------------------------


class FieldChange(BaseModel):
    old: Any
    new: Any


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int | None = Field(description="Null only for an export, which concerns no one incident.")
    action: EventAction
    actor: UserRef | None = Field(description="Null for changes no person made (seeded data).")
    changes: dict[str, FieldChange] | None
    note: str | None
    details: "ExportDetails | None" = Field(description="What an export exported; null for every other action.")
    request_id: str | None
    created_at: datetime


EventPage = Page[EventRead]


class NoteCreate(StrictBody):
    text: required_text(10_000, multiline=True)  # type: ignore[valid-type]


class EventListParams(PageParams):
    limit: int = Field(50, ge=1, le=100)


class AuditParams(PageParams):
    """Filters of `GET /api/audit`; `action` may repeat."""

    limit: int = Field(50, ge=1, le=100)
    actor_id: int | None = Field(None, ge=1, le=2**63 - 1)
    incident_id: int | None = Field(None, ge=1, le=2**63 - 1)
    action: list[EventAction] = Field(default_factory=list)
    since: IsoTime | None = Field(None, description="Events at or after this time (ISO 8601 with offset).")
    until: IsoTime | None = Field(None, description="Events before this time (ISO 8601 with offset).")


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail, served as `application/problem+json`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(None, description="Present on 422: one entry per invalid field.")

    model_config = ConfigDict(extra="allow")

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PreconditionFailedProblem(Problem):
    """412: If-Match names no version the incident is at; nothing was changed."""

    current: IncidentRead = Field(description="The incident as it is now (its ETag is in the answer's headers).")


# --- CSV export ----------------------------------------------------------------------------------------------

# What a list reads a page with: an export has no pages.
PAGING_FIELDS = frozenset({"page", "limit", "cursor"})


class ExportOptions(BaseModel):
    bom: bool = Field(False, description="Start the file with a UTF-8 byte order mark (for Excel).")


def _export_params(list_params: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """The list's own query parameters (filters, search, sort), less its paging, plus the export's options: the
    export takes exactly what the list takes, and follows it when the list gains a filter."""
    fields: dict[str, Any] = {
        field: (info.annotation, info) for field, info in list_params.model_fields.items() if field not in PAGING_FIELDS
    }
    return create_model(name, __base__=ExportOptions, __doc__=doc, **fields)


IncidentExportParams = _export_params(
    IncidentListParams, "IncidentExportParams", "Query parameters of `GET /api/incidents/export`."
)
AuditExportParams = _export_params(AuditParams, "AuditExportParams", "Query parameters of `GET /api/audit/export`.")


class ExportDetails(BaseModel):
    """The `details` of an `exported` event."""

    export: Literal["incidents", "audit"]
    filters: dict[str, Any] = Field(description="The export's query parameters, as the export understood them.")
    rows: int = Field(description="Rows written (after the header).")
    completed: bool = Field(description="False when the download was cut off (the client went away, or an error).")


EventRead.model_rebuild()

ExportPath = Literal["/api/incidents/export", "/api/audit/export"]


class DownloadTicketCreate(StrictBody):
    path: ExportPath
    query: str = Field(
        "",
        max_length=2000,
        description="The export's query string (`status=OPEN&sort_by=title`), without `ticket`; a leading `?` is "
        "ignored.",
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"path": "/api/incidents/export", "query": "status=OPEN&sort_by=title"}]}
    )


class DownloadTicketRead(BaseModel):
    ticket: str
    url: str = Field(description="The export's path and query with the ticket: prefix it with the API's address.")
    expires_at: datetime
    expires_in: int = Field(description="Seconds the ticket stays valid; it works once.")


# --- metrics -------------------------------------------------------------------------------------------------


class MetricsParams(BaseModel):
    """Query parameters of `GET /api/metrics`. The window is [from, to); its figures cover the whole ISO weeks (UTC,
    Monday to Monday) it touches. Default: the current week and the eleven before it (`to` now, `from` the Monday
    of the eleventh week before); with only `to`, the twelve weeks up to it; at most two years (732 days)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: IsoTime | None = Field(None, alias="from", description="Start of the window (ISO 8601 with offset).")
    to: IsoTime | None = Field(None, description="End of the window, excluded (ISO 8601 with offset). Default: now.")
    service: ServiceName | None = Field(None, description="Only this service (its exact name).")
    severity: list[Severity] = Field(default_factory=list, description="Only these severities (repeatable).")


class DurationFigures(BaseModel):
    count: int = Field(description="How many durations the figures are computed from.")
    median_seconds: int | None = Field(description="Nearest-rank median (p50), in seconds; null when count is 0.")
    p90_seconds: int | None = Field(description="Nearest-rank 90th percentile, in seconds; null when count is 0.")


class DurationMetrics(BaseModel):
    """Over the live incidents created in the window's weeks: time to mitigate (`mitigated_at - created_at`) of
    those mitigated, time to resolve (`resolved_at - created_at`) of those resolved now. Percentiles are
    nearest-rank (the ⌈p·n⌉-th smallest of n) over durations rounded up to the duration scale: whole seconds up to
    a minute, then steps 5% apart (63, 67, 71, 75, 79 s, ...). A figure is never below the exact nearest-rank
    percentile and at most 5% above it."""

    time_to_mitigate: DurationFigures
    time_to_resolve: DurationFigures


class SeverityDurations(DurationMetrics):
    severity: Severity


class ServiceDurations(DurationMetrics):
    service: str


class OpenCount(BaseModel):
    severity: Severity
    count: int = Field(description="Live incidents OPEN or MITIGATED now (whatever the window).")


class WeekCounts(BaseModel):
    week: date = Field(description="The Monday (UTC) of the ISO week.")
    created: int = Field(description="Live incidents created in the week.")
    resolved: int = Field(description="Live incidents resolved in the week (by their resolution time now).")


class MetricsRead(BaseModel):
    """Archived incidents count nowhere. `service` and `severity` filter every figure."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: datetime = Field(alias="from", description="The window's start, as asked (or the default), in UTC.")
    to: datetime = Field(description="The window's end, excluded, as asked (or now), in UTC.")
    weeks_start: datetime = Field(description="The Monday 00:00 UTC of the window's first week.")
    weeks_end: datetime = Field(description="The Monday 00:00 UTC after the window's last week.")
    service: str | None
    severity: list[Severity] = Field(description="The severities counted (all four when none was asked for).")
    open_now: list[OpenCount] = Field(description="Per severity, in order; counted now, whatever the window.")
    open_now_total: int
    weeks: list[WeekCounts] = Field(description="Every week of the window, in order, zeros included.")
    durations: DurationMetrics = Field(description="All the incidents created in the window's weeks.")
    durations_by_severity: list[SeverityDurations] = Field(description="Per severity counted, in order.")
    durations_by_service: list[ServiceDurations] = Field(
        description="Per service with at least one mitigated or resolved incident created in the window, by name."
    )
