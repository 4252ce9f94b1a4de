"""Pydantic schemas: what the API accepts and returns."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from app.models import Severity, Status


def _strip_not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("string_blank", "Must not be blank")
    return value


# "Has a character that is not white space", white space being exactly what str.strip() removes. The characters
# are listed rather than written `\S`, whose meaning differs between Python, JavaScript and Rust regex engines.
NOT_BLANK = "[^" + "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace()) + "]"


def required_text(max_length: int) -> Any:
    """Text that must not be blank, stored without surrounding white space. The schema says so too (a pattern),
    so generated clients and fuzzers know that blank is refused."""
    return Annotated[
        str,
        Field(min_length=1, max_length=max_length, json_schema_extra={"pattern": NOT_BLANK}),
        AfterValidator(_strip_not_blank),
    ]


Title = required_text(200)
ServiceName = required_text(100)


def _blank_to_none(value: str | None) -> str | None:
    return value or None


Description = Annotated[
    str | None, StringConstraints(strip_whitespace=True, max_length=10_000), AfterValidator(_blank_to_none)
]

SORTABLE_COLUMNS = ("id", "title", "service", "severity", "status", "created_at", "updated_at")
SortColumn = Literal["id", "title", "service", "severity", "status", "created_at", "updated_at"]


class StrictBody(BaseModel):
    """Request bodies reject unknown and server-owned fields (id, timestamps) instead of ignoring them."""

    model_config = ConfigDict(extra="forbid")


class IncidentCreate(StrictBody):
    title: Title
    service: ServiceName
    severity: Severity
    status: Status = Status.OPEN
    description: Description = None

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

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "MITIGATED"}]})


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


class IncidentListParams(BaseModel):
    """Query parameters of `GET /api/incidents/`. `severity` and `status` may repeat (any of them matches)."""

    page: int = Field(1, ge=1, le=2_147_483_647)
    limit: int = Field(20, ge=1, le=100)
    search: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        None, description="Case-insensitive substring of the title or the service."
    )
    severity: list[Severity] = Field(default_factory=list)
    status: list[Status] = Field(default_factory=list)
    sort_by: SortColumn = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    total: int
    page: int
    limit: int
    pages: int


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
