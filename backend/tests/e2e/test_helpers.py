"""The pure helpers of the page modules, run in the browser that runs the pages."""

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.e2e


def run_module(page: Page, body: str):
    """Run `body` (the body of an async function) with the page modules imported as dom, state and api."""
    page.goto("/index.html")
    # The function is built here, not in the page: the pages' CSP forbids eval and new Function.
    return page.evaluate(
        "async () => {\n"
        '    const dom = await import("/js/dom.js");\n'
        '    const state = await import("/js/list-state.js");\n'
        '    const api = await import("/js/api.js");\n'
        f"{body}\n"
        "}"
    )


def test_escaping_covers_every_special_character(page: Page) -> None:
    result = run_module(
        page,
        """
        const evil = `<a href="x" title='y'>&amp;</a>`;
        const inner = dom.html`<br>`;
        return {
            escaped: dom.escapeHtml(evil),
            template: String(dom.html`<p title="${'" onclick="x'}">${evil}${inner}${[1, "<b>"]}${null}</p>`),
            refused: (() => { try { dom.setHtml(document.createElement("div"), "<b>x</b>"); return false; }
                              catch (e) { return e instanceof TypeError; } })(),
            elNode: (() => { const node = dom.el("span", {title: evil}, evil);
                             return [node.getAttribute("title") === evil, node.textContent === evil,
                                     node.children.length]; })(),
        };
        """,
    )
    assert result["escaped"] == "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
    assert result["template"] == (
        '<p title="&quot; onclick=&quot;x">'
        "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;<br>1&lt;b&gt;</p>"
    )
    assert result["refused"] is True
    assert result["elNode"] == [True, True, 0]  # text and attribute, no elements


def test_time_formatting(page: Page) -> None:
    result = run_module(
        page,
        """
        const now = Date.parse("2026-11-27T12:00:00Z");
        const ago = (seconds) => dom.formatRelative(new Date(now - seconds * 1000).toISOString(), now);
        return {
            relative: [ago(10), ago(50), ago(3 * 3600), ago(26 * 3600), ago(9 * 86400), ago(-7200)],
            naiveIsUtc: dom.parseApiDate("2026-11-27T03:05:55").toISOString(),
            offset: dom.parseApiDate("2026-11-27T03:05:55.5+00:00").toISOString(),
            bad: dom.parseApiDate("yesterday"),
            exact: dom.formatExact("2026-11-27T15:05:55Z").replace("\\u202f", " "),
        };
        """,
    )
    assert result["relative"] == ["just now", "1 minute ago", "3 hours ago", "1 day ago", "1 week ago", "in 2 hours"]
    assert result["naiveIsUtc"] == "2026-11-27T03:05:55.000Z"
    assert result["offset"] == "2026-11-27T03:05:55.500Z"
    assert result["bad"] is None
    assert result["exact"] == "Nov 27, 2026, 3:05:55 PM UTC"


def test_durations_in_words_exact_and_iso_8601(page: Page) -> None:
    result = run_module(
        page,
        """
        const s = 1000, min = 60 * s, h = 60 * min, d = 24 * h;
        const cases = [0, 59 * s, min, 14 * min + 59 * s, h, 2 * h + 14 * min + 5 * s, 23 * h + 59 * min + 59 * s,
                       d, 3 * d + 4 * h + 20 * min, 3 * d + 59 * min, 400 * d + h, -5 * min, 1500];
        return {
            words: cases.map(dom.formatDuration),
            exact: cases.map(dom.formatDurationExact),
            iso: cases.map(dom.isoDuration),
            bad: [NaN, Infinity, null, "5", undefined].map((value) =>
                [dom.formatDuration(value), dom.formatDurationExact(value), dom.isoDuration(value)]),
        };
        """,
    )
    assert result["words"] == [
        "less than 1 min",
        "less than 1 min",
        "1 min",
        "14 min",
        "1 h",
        "2 h 14 min",
        "23 h 59 min",
        "1 d",
        "3 d 4 h",
        "3 d",
        "400 d 1 h",
        "less than 1 min",  # clocks apart: no negative durations
        "less than 1 min",
    ]
    assert result["exact"] == [
        "0 s",
        "59 s",
        "1 min",
        "14 min 59 s",
        "1 h",
        "2 h 14 min 5 s",
        "23 h 59 min 59 s",
        "1 d",
        "3 d 4 h 20 min",
        "3 d 59 min",
        "400 d 1 h",
        "0 s",
        "1 s",
    ]
    assert result["iso"] == [
        "PT0S",
        "PT59S",
        "PT1M",
        "PT14M59S",
        "PT1H",
        "PT2H14M5S",
        "PT23H59M59S",
        "P1D",
        "P3DT4H20M",
        "P3DT59M",
        "P400DT1H",
        "PT0S",
        "PT1S",
    ]
    assert result["bad"] == [["", "", ""]] * 5


def test_list_state_round_trip_and_paging_helpers(page: Page) -> None:
    result = run_module(
        page,
        """
        const parsed = state.stateFromQuery(
            "?search=%20db%20&severity=SEV2&severity=SEV1&severity=SEV9&status=OPEN&sort_by=title&sort_order=asc" +
            "&page=3&limit=50&extra=1");
        return {
            parsed,
            query: state.stateToQuery(parsed),
            defaults: state.stateToQuery(state.stateFromQuery("?page=0&limit=7&sort_by=drop_table&sort_order=up")),
            archived: [state.stateToQuery(state.stateFromQuery("?status=OPEN&archived=true")),
                       state.stateFromQuery("?archived=1").archived, state.stateFromQuery("?archived=yes").archived,
                       state.apiParams(state.stateFromQuery("?archived=true")).archived,
                       state.apiParams(state.stateFromQuery("")).archived],
            pages: [state.pageNumbers(1, 1), state.pageNumbers(1, 4),
                    state.pageNumbers(7, 20), state.pageNumbers(3, 5)],
            summaries: [state.summaryText({page: 2, limit: 20, total: 200}, 20),
                        state.summaryText({page: 2, limit: 20, total: 25}, 5),
                        state.summaryText({page: 1, limit: 20, total: 0}, 0),
                        state.summaryText({page: 9, limit: 20, total: 25}, 0)],
            sorts: [state.nextSort({sort_by: "created_at", sort_order: "desc"}, "title"),
                    state.nextSort({sort_by: "title", sort_order: "asc"}, "title"),
                    state.nextSort({sort_by: "title", sort_order: "asc"}, "updated_at")],
            query2: api.toQueryString({page: 1, search: "", severity: ["SEV1", "SEV2"], status: [], x: null}),
            fieldErrors: api.fieldErrorsFrom({errors: [
                {loc: ["body", "title"], msg: "String should have at most 200 characters", type: "string_too_long"},
                {loc: ["body", "title"], msg: "Must not be blank", type: "string_blank"},
                {loc: ["query", "limit"], msg: "Input should be less than or equal to 100", type: "less_than_equal"}]}),
            apiError: (() => { const e = new api.ApiError("Nope", {status: 422, problem: {errors: []}});
                               return [e.status, e.message, e instanceof Error]; })(),
        };
        """,
    )
    assert result["parsed"] == {
        "view": "custom",  # statuses and sort of no named view
        "archived": False,
        "search": "db",
        "severity": ["SEV1", "SEV2"],
        "status": ["OPEN"],
        "commander": "",
        "sort_by": "title",
        "sort_order": "asc",
        "page": 3,
        "limit": 50,
        "cursor": None,
    }
    assert result["query"] == (
        "?view=custom&search=db&severity=SEV1&severity=SEV2&status=OPEN&sort_by=title&sort_order=asc&page=3&limit=50"
    )
    assert result["defaults"] == ""
    assert result["archived"] == [
        "?view=custom&archived=true&status=OPEN",  # the archive opens on All (newest first); one status is custom
        True,
        False,
        "true",
        None,
    ]
    assert result["pages"] == [[1], [1, 2, 3, 4], [1, None, 6, 7, 8, None, 20], [1, 2, 3, 4, 5]]
    assert result["summaries"] == ["Showing 21-40 of 200", "Showing 21-25 of 25", "No incidents", "Showing 0 of 25"]
    assert result["sorts"] == [
        {"sort_by": "title", "sort_order": "asc"},
        {"sort_by": "title", "sort_order": "desc"},
        {"sort_by": "updated_at", "sort_order": "desc"},
    ]
    assert result["query2"] == "?page=1&severity=SEV1&severity=SEV2"
    assert result["fieldErrors"] == {  # sentences from loc and type, never Pydantic's msg
        "title": "Title must be at most 200 characters. Title cannot be blank.",
        "limit": "Limit must be at most 100.",
    }
    assert result["apiError"] == [422, "Nope", True]


def test_next_after_sign_in_is_one_of_our_pages(page: Page) -> None:
    result = run_module(
        page,
        """
        const base = "http://pages.example:5500/app/login.html?next=x";
        const cases = [
            "/app/index.html?status=OPEN&page=2", "/app/detail.html?id=5&archived=1#timeline", "/app/",
            "index.html?search=db", "/app/create.html",
            "https://evil.example/app/index.html", "//evil.example/app/index.html", "/\\\\evil.example/index.html",
            "javascript:alert(1)", " javascript:alert(1)", "/app/login.html", "/app/../secret/index.html",
            "/other/index.html", "/app/vendor/x.html", "", null, "/app/index.html\\n",
        ];
        return cases.map((next) => api.safeNext(next, base));
        """,
    )
    assert result == [
        "/app/index.html?status=OPEN&page=2",
        "/app/detail.html?id=5&archived=1#timeline",
        "/app/",
        "/app/index.html?search=db",
        "/app/create.html",
        *["index.html"] * 12,
    ]


def test_roles_and_timeline_values(page: Page) -> None:
    result = run_module(
        page,
        """
        const roles = await import("/js/roles.js");
        const timeline = await import("/js/timeline.js");
        const actions = ["create", "edit", "note", "archive", "restore", "viewArchived", "nonsense"];
        const table = {};
        for (const role of ["viewer", "responder", "admin", "root"]) {
            table[role] = actions.filter((action) => roles.can({role}, action));
        }
        return {
            table,
            nobody: roles.can(null, "edit"),
            initials: ["Ada Admin", "vic", "  Rory  Q  Responder ", "", "<img src=x>"].map(roles.initials),
            values: [
                timeline.valueText("status", "MITIGATED"), timeline.valueText("mitigated_at", null),
                timeline.valueText("resolved_at", "2026-11-27T15:05:55Z").replace("\u202f", " "),
                timeline.valueText("description", ""), timeline.valueText("severity", "SEV2"),
                timeline.fieldLabel("resolved_at"), timeline.fieldLabel("new_field"),
            ],
            counts: [timeline.eventCountText(1), timeline.eventCountText(3)],
        };
        """,
    )
    assert result["table"] == {
        "viewer": [],
        "responder": ["create", "edit", "note"],
        "admin": ["create", "edit", "note", "archive", "restore", "viewArchived"],
        "root": [],
    }
    assert result["nobody"] is False
    assert result["initials"] == ["AA", "V", "RQ", "?", "<S"]
    assert result["values"] == [
        "Mitigated",
        "—",
        "Nov 27, 2026, 3:05:55 PM UTC",
        "—",
        "SEV2",
        "Resolved",
        "New field",
    ]
    assert result["counts"] == ["1 event", "3 events"]


def test_live_helpers_match_filters_and_back_off(page: Page) -> None:
    result = run_module(
        page,
        """
        const live = await import("/js/live.js");
        const base = {...state.DEFAULT_STATE};
        const incident = {title: "Checkout DOWN", service: "payments-api", severity: "SEV1", status: "OPEN",
                          archived_at: null};
        const matches = (changes, data = incident) => state.matchesState(data, {...base, ...changes});
        const archived = {...incident, archived_at: "2026-11-27T03:05:55Z"};
        return {
            matches: [
                matches({}), matches({search: "down"}), matches({search: "PAY"}), matches({search: "refund"}),
                matches({severity: ["SEV1", "SEV2"]}), matches({severity: ["SEV2"]}),
                matches({status: ["OPEN"]}), matches({status: ["RESOLVED"]}),
                matches({archived: true}), matches({archived: true}, archived), matches({}, archived),
            ],
            url: api.liveUrl(),
            lowest: [1, 2, 3, 4, 5, 6, 7].map((failures) => live.reconnectDelay(failures, () => 0)),
            highest: [1, 2, 3, 4, 5, 6, 7].map((failures) => live.reconnectDelay(failures, () => 1)),
        };
        """,
    )
    assert result["matches"] == [True, True, True, False, True, False, True, False, False, True, False]
    assert result["url"].startswith("ws://127.0.0.1:") and result["url"].endswith("/api/live")
    assert result["lowest"] == [500, 1000, 2000, 4000, 8000, 15000, 15000]  # half the backoff for sure...
    assert result["highest"] == [1000, 2000, 4000, 8000, 16000, 30000, 30000]  # ...up to all of it, capped
