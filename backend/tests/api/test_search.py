"""Search through the index (app/services/search.py): the same answers on both databases as the definition gives
on a fixed data set, whichever form the condition takes, and an index that stays right through every change."""

import unicodedata
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from app.models import Incident, SearchText, SearchTrigram
from app.services import search
from tests.api.helpers import API, BASE_TIME, insert_incidents, list_page, make_incident


def folded(text: str) -> str:
    """The definition, written out again for the tests: Unicode case folding between NFC normalisations."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def expected_ids(rows: dict[int, tuple[str, str]], term: str) -> list[int]:
    needle = folded(term.strip())
    return sorted(i for i, (title, service) in rows.items() if needle in folded(title) or needle in folded(service))


ROWS = [
    ("Éclair service down", "pâtisserie"),
    ("éclair latency", "web"),
    ("Über deploy failed", "ÜBER-api"),
    ("uber eats integration", "partners"),
    ("🔥 fire in db", "infra"),
    ("🚀 launch went wrong", "rockets"),
    ("CPU at 100%", "metrics"),
    ("CPU at 1000", "metrics"),
    ("disk_full alert", "storage"),
    ("diskXfull alert", "storage"),
    ("Straße closed", "maps"),
    ("ΟΔΟΣ blocked", "geo"),
    ("Cafe\u0301 menu broken", "coffee"),  # the é decomposed (NFD)
    ("Login errors", "AUTH-service"),
    ("Mixed CaSe Title", "MiXeD-svc"),
    ("X", "q"),
    ("back\\slash path", "win-fs"),
]

# fmt: off
TERMS = [
    # accents are kept; case is folded
    "é", "É", "e", "éclair", "ÉCLAIR", "eclair", "ü", "Ü", "über", "ÜBER-API", "uber", "café", "CAFÉ", "cafe",
    # emoji
    "🔥", "🔥 fire", "🚀 launch", "🔥🚀",
    # wildcards and backslash are literal
    "%", "0%", "_", "k_f", "%_%", "\\", "k\\s",
    # full case folding: ß is ss, final sigma is sigma
    "ss", "strasse", "STRASSE", "ß", "οδοσ", "ΟΔΟΣ", "οδος",
    # only the service, only the title, both
    "auth-SERVICE", "pâtisserie", "errors", "storage", "alert", "metrics",
    # one, two, three and more characters
    "a", "x", "X", "q", "-", " ", "db", "DB", "ic", "er", "zz", "mix", "mixed case", "latency", "absent-term",
]
# fmt: on


@pytest.fixture
def dataset(client):
    """The rows created through the API, oldest first: {id: (title, service)}."""
    rows = {}
    for title, service in ROWS:
        rows[make_incident(client, title=title, service=service)["id"]] = (title, service)
    return rows


@pytest.fixture(params=["as-planned", "dense", "complement", "values-subquery"])
def form(request, monkeypatch):
    """Each form the condition can take: as the planner chooses (here: ids), the byte-wise comparison it uses
    when many incidents match, the values that do not match when most do, and the subquery past both."""
    if request.param == "dense":
        monkeypatch.setattr(search, "SPARSE_LIMIT", 0)
    if request.param in ("complement", "values-subquery"):
        monkeypatch.setattr(search, "MAX_VALUES", 0)
    if request.param == "values-subquery":
        monkeypatch.setattr(search, "MAX_OTHERS", 0)
    return request.param


def searched(client, term: str, **params) -> tuple[list[int], int]:
    body = list_page(client, search=term, sort_by="id", sort_order="asc", limit=100, **params)
    return [item["id"] for item in body["items"]], body["total"]


def test_answers_are_the_definitions_on_a_fixed_data_set(client, dataset, form):
    for term in TERMS:
        expected = expected_ids(dataset, term) if term.strip() else sorted(dataset)
        assert searched(client, term) == (expected, len(expected)), term


def by_title(dataset, *titles):
    return sorted(i for i, (title, _service) in dataset.items() if title in titles)


@pytest.mark.parametrize(
    ("term", "titles"),
    [
        pytest.param("ÉCLAIR", ["Éclair service down", "éclair latency"], id="case-of-accented-letters"),
        pytest.param("eclair", [], id="accents-are-kept"),
        pytest.param("über", ["Über deploy failed"], id="umlaut-finds-only-umlaut"),
        pytest.param("uber", ["uber eats integration"], id="plain-finds-only-plain"),
        pytest.param("CAFÉ", ["Cafe\u0301 menu broken"], id="composed-finds-decomposed"),
        pytest.param("STRASSE", ["Straße closed"], id="sharp-s-is-ss"),
        pytest.param("οδοσ", ["ΟΔΟΣ blocked"], id="final-sigma"),
        pytest.param("🔥", ["🔥 fire in db"], id="emoji"),
        pytest.param("0%", ["CPU at 100%"], id="percent-is-literal"),
        pytest.param("k_f", ["disk_full alert"], id="underscore-is-literal"),
        pytest.param("k\\s", ["back\\slash path"], id="backslash-is-literal"),
        pytest.param("auth-SERVICE", ["Login errors"], id="only-the-service"),
        pytest.param("errors", ["Login errors"], id="only-the-title"),
        pytest.param("x", ["diskXfull alert", "Mixed CaSe Title", "X"], id="one-character"),
        pytest.param("DB", ["🔥 fire in db"], id="two-characters"),
        pytest.param("zz", [], id="two-characters-absent"),
    ],
)
def test_what_the_definition_means(client, dataset, form, term, titles):
    expected = by_title(dataset, *titles)

    assert searched(client, term) == (expected, len(expected))


def test_search_combines_with_filters_sort_and_paging(client, db_session, form):
    ids = insert_incidents(
        db_session,
        *(
            {"title": f"Disk {n} full", "severity": "SEV1" if n % 2 else "SEV2", "created_at": BASE_TIME + timedelta(n)}
            for n in range(8)
        ),
        {"title": "Other", "service": "disk-api", "severity": "SEV1", "created_at": BASE_TIME},
        {"title": "Unrelated", "severity": "SEV1", "created_at": BASE_TIME},
    )
    sev1_disks = [ids[1], ids[3], ids[5], ids[7], ids[8]]  # "Disk 1 full", ... and the disk-api one

    body = list_page(client, search="DISK", severity="SEV1", sort_by="title", sort_order="desc", limit=2, page=2)

    # by title, descending: Other, Disk 7 full | Disk 5 full, Disk 3 full | Disk 1 full
    assert [item["id"] for item in body["items"]] == [ids[5], ids[3]]
    assert (body["total"], body["pages"]) == (len(sev1_disks), 3)


def test_the_index_follows_create_update_archive_and_restore(client, auth_headers):
    quokka = make_incident(client, title="Quokka outage", service="zoo-api")
    make_incident(client, title="Wombat incident", service="zoo-web")

    assert searched(client, "quokka") == ([quokka["id"]], 1)

    assert client.patch(f"{API}{quokka['id']}", json={"title": "Numbat outage"}).status_code == 200
    assert searched(client, "quokka") == ([], 0)
    assert searched(client, "NUMBAT") == ([quokka["id"]], 1)

    assert client.patch(f"{API}{quokka['id']}", json={"service": "Marsupial-API"}).status_code == 200
    assert searched(client, "zoo-api") == ([], 0)
    assert searched(client, "marsupial") == ([quokka["id"]], 1)

    assert client.patch(f"{API}{quokka['id']}", json={"status": "MITIGATED"}).status_code == 200
    assert searched(client, "numbat") == ([quokka["id"]], 1)

    headers = auth_headers("admin")
    assert client.delete(f"{API}{quokka['id']}", headers=headers).status_code == 200
    assert searched(client, "numbat") == ([], 0)
    body = client.get(API, params={"search": "numbat", "archived": "true"}, headers=headers).json()
    assert ([item["id"] for item in body["items"]], body["total"]) == ([quokka["id"]], 1)

    assert client.post(f"{API}{quokka['id']}/restore", headers=headers).status_code == 200
    assert searched(client, "numbat") == ([quokka["id"]], 1)


def test_a_value_is_stored_once_with_its_trigrams(client, db_session):
    for _ in range(3):
        make_incident(client, title="Same title", service="same-svc")

    db_session.rollback()
    texts = db_session.execute(select(SearchText.value, SearchText.folded)).all()
    assert sorted(texts) == [(b"Same title", b"same title"), (b"same-svc", b"same-svc")]
    title_id = search.value_id(b"Same title")
    grams = db_session.scalars(select(SearchTrigram.trigram).where(SearchTrigram.text_id == title_id)).all()
    expected = ["sam", "ame", "me ", "e t", " ti", "tit", "itl", "tle", "le\0", "e\0\0"]
    assert sorted(grams) == sorted(gram.encode() for gram in expected)


def test_a_bulk_load_is_found_after_a_rebuild(client, db_session, db_engine):
    # Rows written around the ORM (as the seed writes them), with case and accent variants that MySQL's
    # collation groups together: each must be in the index byte for byte.
    rows = [("Café down", "svc"), ("CAFÉ DOWN", "SVC"), ("cafe down", "Svc"), ("Tea time", "svc")]
    with db_engine.begin() as connection:
        connection.execute(
            insert(Incident),
            [
                {
                    "title": t,
                    "service": s,
                    "severity": "SEV3",
                    "status": "OPEN",
                    "created_at": BASE_TIME,
                    "updated_at": BASE_TIME,
                }
                for t, s in rows
            ],
        )
    assert searched(client, "down") == ([], 0)  # not indexed yet

    with db_engine.begin() as connection:
        search.rebuild_search_index(connection)

    ids = sorted(db_session.scalars(select(Incident.id)))
    assert searched(client, "café") == (ids[:2], 2)
    assert searched(client, "cafe") == (ids[2:3], 1)
    assert searched(client, "SVC") == (ids, 4)
    db_session.rollback()
    values = {value for value in db_session.scalars(select(SearchText.value))}
    assert values == {t.encode() for t, _ in rows} | {b"svc", b"SVC", b"Svc"}
