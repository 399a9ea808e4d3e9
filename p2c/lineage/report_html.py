"""The auditor's HTML report: one self-contained file (inline CSS, JS and SVG; no CDN, works offline).

Per dualwrite table and column: the path back to the export header with each hop's SQL and kind, the rule and
its step in the procedure, the guarding tests with their last result, the declaration check, a graph."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from importlib.resources import files
from typing import Any

from p2c.lineage.audit_tables import FILE_COLUMNS, REJECT_COLUMNS, TARGET_STATE_COLUMNS, AuditTables
from p2c.lineage.column_evidence import LANGUAGE_NAMES, GuardingTest
from p2c.lineage.graph import JOIN
from p2c.lineage.pack_contents import SHOWN_LANGUAGES, AuditPack, ColumnAudit, Hop
from p2c.lineage.svg import path_svg
from p2c.output import cell_text
from p2c.upload.record_state import PARENTS, READ_ONLY_STATES

TARGET_STATE_KEYS = [column.key for column in TARGET_STATE_COLUMNS]
STATE_OF_LINES = {line: parent for line, (_, parent, _, _) in PARENTS.items()}  # a line: its parent's state

DOCUMENT_TITLES = {
    "migrate-prospect-to-cash": "Migrate Prospect to cash data from Data Integrator to dual-write",
    "enable-prospect": "Enable prospects in Prospect to cash (dual-write)",
}


def _asset(name: str) -> str:
    return files("p2c.lineage").joinpath("assets", name).read_text(encoding="utf-8")


def _kind(kind: str) -> str:
    return f'<span class="kind kind-{escape(kind)}">{escape(kind)}</span>'


def _tests(tests: list[GuardingTest]) -> str:
    if not tests:
        return '<span class="bad">none</span>'
    return ", ".join(
        f'<code>{escape(t.name)}</code> <span class="status status-{escape(t.status.replace(" ", "-"))}">'
        f"{escape(t.status)}</span>"
        for t in tests
    )


def _hop_tests(hop: Hop) -> str:
    """Tests on an intermediate column are a bonus: show them, but do not flag their absence."""
    return _tests(hop.tests) if hop.tests else ""


def _headers(column: ColumnAudit) -> str:
    items = []
    for raw, headers in column.headers.items():
        if not headers:
            items.append(f"<li><code>{escape(raw)}</code>: no export header known</li>")
            continue
        # the user's own headers (landed files) and English / Swedish first; the other languages are counted
        first = [h for h in headers if h.origin in {"provenance"} or h.origin.startswith("landed")]
        first += [h for h in headers if h.language_code in SHOWN_LANGUAGES and h not in first]
        first = first or headers[:2]
        shown = []
        for h in first:
            if h.origin == "provenance":
                shown.append(f"<em>{escape(h.header)}</em>")
                continue
            where = (
                h.origin
                if h.origin.startswith("landed")
                else LANGUAGE_NAMES.get(h.language_code, str(h.language_code))
            )
            shown.append(f"<q>{escape(h.header)}</q> <small>({escape(where)})</small>")
        rest = len(headers) - len(first)
        more = f" <small>+{rest} more languages</small>" if rest > 0 else ""
        items.append(f"<li><code>{escape(raw)}</code> ← " + ", ".join(shown) + more + "</li>")
    return "<ul>" + "".join(items) + "</ul>" if items else "—"


def _rule(column: ColumnAudit) -> str:
    if column.rule is None:
        return f'<span class="bad">{escape(column.rule_id or "no rule declared")}</span>' + (
            " (not in seeds/procedure_rules.csv)" if column.rule_id else ""
        )
    rule = column.rule
    title = DOCUMENT_TITLES.get(rule.document, rule.document)
    return (
        f"<code>{escape(rule.rule_id)}</code> — {escape(title)} › {escape(rule.section)} › "
        f"step {escape(rule.step)}: {escape(rule.summary)}"
    )


def _declaration(column: ColumnAudit) -> str:
    if column.findings:
        return "".join(
            f'<div class="bad">{escape(f.problem)}: {escape(f.detail)}</div>' for f in column.findings
        )
    if column.declaration is None:
        return "not required (provenance column)"
    return f'<span class="ok">matches the SQL</span> ({escape(column.declaration.kind)})'


def _search_text(column: ColumnAudit) -> str:
    words = [
        column.relation,
        column.column,
        column.target,
        column.kind,
        column.description,
        column.rule_id or "",
    ]
    words += column.value_origins + column.config_origins + column.join_keys
    words += [h.header for headers in column.headers.values() for h in headers]
    words += [hop.source for hop in column.hops] + [hop.expression for hop in column.hops]
    words += [t.name for t in column.tests]
    if column.rule:
        words += [column.rule.summary, column.rule.section]
    return " ".join(words).lower()


def _column_id(column: ColumnAudit) -> str:
    return "c-" + column.target


def _hop_row(hop: Hop) -> str:
    return (
        f"<tr><td><code>{escape(hop.target)}</code></td><td><code>{escape(hop.source)}</code></td>"
        f'<td>{_kind(hop.kind)}</td><td><div class="sql">{escape(hop.expression)}</div></td>'
        f"<td>{_hop_tests(hop)}</td></tr>"
    )


HOP_TABLE_HEAD = """<table class="hops"><colgroup><col class="c-target"><col class="c-source">
<col class="c-kind"><col class="c-sql"><col class="c-tests"></colgroup>
<thead><tr><th>column</th><th>comes from</th><th>kind</th><th>SQL of the hop</th><th>tests</th></tr>
</thead>"""


def _value_hops(column: ColumnAudit) -> list[Hop]:
    """Hops on the value's path, plus the join edges of its lookups (the ON columns, one hop deep)."""
    value = [h for h in column.hops if h.role == "value"]
    on_path = {h.target for h in value}
    return value + [h for h in column.hops if h.kind == JOIN and h.target in on_path and h not in value]


def _hop_tables(column: ColumnAudit) -> str:
    """The value's hops in full; the hops that only find rows (join keys and their paths) folded away."""
    value = _value_hops(column)
    keys = [h for h in column.hops if h not in value]
    html = f"{HOP_TABLE_HEAD}<tbody>{''.join(_hop_row(h) for h in value)}</tbody></table>"
    if keys:
        html += (
            f'<details class="key-hops"><summary>{len(keys)} more hops: where the join keys come from'
            "</summary>"
            f"{HOP_TABLE_HEAD}<tbody>{''.join(_hop_row(h) for h in keys)}</tbody></table></details>"
        )
    return html


def _article(column: ColumnAudit) -> str:
    origins = ", ".join(f"<code>{escape(o)}</code>" for o in column.value_origins) or "—"
    config = ", ".join(f"<code>{escape(o)}</code>" for o in column.config_origins) or "—"
    keys = ", ".join(f"<code>{escape(o)}</code>" for o in column.join_keys) or "—"
    return f"""
<article class="column" id="{escape(_column_id(column))}" data-table="{escape(column.relation)}"
  data-column="{escape(column.column)}" data-search="{escape(_search_text(column))}">
<h3>{escape(column.column)} {_kind(column.kind)}</h3>
<p class="desc">{escape(column.description) or "<em>no description</em>"}</p>
<dl class="facts">
<dt>Value from</dt><dd>{origins}</dd>
<dt>Export headers</dt><dd>{_headers(column)}</dd>
<dt>Configuration</dt><dd>{config}</dd>
<dt>Join keys</dt><dd>{keys}</dd>
<dt>Procedure rule</dt><dd>{_rule(column)}</dd>
<dt>Tests</dt><dd>{_tests(column.tests)}</dd>
<dt>Declaration</dt><dd>{_declaration(column)}</dd>
</dl>
<figure class="graph">{path_svg(column.target, _value_hops(column))}</figure>
{_hop_tables(column)}
</article>"""


def _cell(value: Any) -> str:
    return escape(cell_text(value))


def _data_table(rows: list[dict[str, Any]], columns: list[str], numeric: set[str], css: str) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_cell(row.get(c))}</td>' if c in numeric else f"<td>{_cell(row.get(c))}</td>"
            for c in columns
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="wide"><table class="data {css}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _build_header(context: dict[str, Any]) -> str:
    """The first screen: which database, which build (time, status), which loads, and any problem."""
    build = context.get("build") or {}
    status = str(build.get("status") or "never built")
    when = cell_text(build.get("finished_at") or build.get("started_at")) or "—"
    loads = build.get("loads") or []
    facts = [
        ("Database", f"<code>{_cell(context.get('database'))}</code>"),
        (
            "Build",
            f'<span class="build-status build-{escape(status)}">{escape(status.upper())}</span> '
            f"{escape(when)} UTC"
            + (f" · --select <code>{_cell(build.get('selection'))}</code>" if build.get("selection") else ""),
        ),
        (
            "Loads covered",
            f"{len(loads)} load run(s), {_cell(build.get('landed_files'))} landed file(s): "
            + ", ".join(f"<code>{escape(str(load))}</code>" for load in loads)
            if loads
            else "none",
        ),
        ("Test results", escape(str(context.get("test_results_from") or "none"))),
    ]
    dl = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    banner = ""
    problems = context.get("problems") or []
    if problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in problems)
        banner = (
            '<div class="banner" role="alert"><strong>NOT VERIFIED: this pack does not vouch for the '
            f"database.</strong><ul>{items}</ul>Test results and figures below may not describe it.</div>"
        )
    return f'{banner}<section class="build" id="build"><h2>Build</h2><dl class="facts">{dl}</dl></section>'


def _proof_sections(tables: AuditTables) -> str:
    parts = []
    if tables.reconciliation:
        columns = tables.reconciliation_columns
        numeric = {c for c in columns if c != "entity"}
        unbalanced = [r for r in tables.reconciliation if r.get("difference") not in (0, None)]
        verdict = (
            '<p class="ok">every source row is in its target table or in the rejects</p>'
            if not unbalanced
            else f'<p class="bad">{len(unbalanced)} entity(ies) do not balance</p>'
        )
        parts.append(
            '<section class="proof" id="reconciliation"><h2>Reconciliation per entity</h2>'
            f"{verdict}{_data_table(tables.reconciliation, columns, numeric, 'reconciliation')}"
            "<p><small>Also in reconciliation.csv and reconciliation.json.</small></p></section>"
        )
    reject_columns = [c.key for c in REJECT_COLUMNS]
    parts.append(
        f'<section class="proof" id="rejects"><h2>Rejected rows ({len(tables.rejects)})</h2>'
        + (
            _data_table(tables.rejects, reject_columns, {"data_row", "excel_row", "line"}, "rejects")
            if tables.rejects
            else "<p>none</p>"
        )
        + "<p><small>Also in rejects.csv and rejects.json"
        " (<code>p2c rejects</code> exports them).</small></p>"
        "</section>"
    )
    parts.append(
        f'<section class="proof" id="files"><h2>Landed files ({len(tables.files)})</h2>'
        + (
            _data_table(tables.files, [c.key for c in FILE_COLUMNS], {"rows", "file_size"}, "files")
            if tables.files
            else "<p>none</p>"
        )
        + "<p><small>Also in files.csv and files.json.</small></p></section>"
    )
    parts.append(_target_states_section(tables.target_states))
    for note in tables.notes:
        parts.append(f'<p class="bad">{escape(note)}</p>')
    return "".join(parts)


def _target_states_section(states: list[dict[str, Any]]) -> str:
    """Per table and state: the target rows, how many are editable, how many only an admin may write
    (`upload/record_state.py`: quotes editable only in Draft, orders only Active, lines by their parent)."""
    head = '<section class="proof" id="target-states"><h2>Target rows per state</h2>'
    if not states:
        return head + "<p>audit.dualwrite_target_states is not built</p></section>"
    rows = [{**row, **_writability(row)} for row in states]
    columns = [*TARGET_STATE_KEYS, "editable", "admin_only"]
    numeric = {"statecode", "target_rows", "editable", "admin_only"}
    admin_only = sum(int(row["admin_only"] or 0) for row in rows)
    verdict = (
        f'<p class="bad">{admin_only} row(s) in read-only states: only an application user with the System '
        "Administrator role writes them (Submitted orders also an integration user with sales-order-"
        "processing integration); see the runbook</p>"
        if admin_only
        else '<p class="ok">every target row with a known state is editable</p>'
    )
    return (
        head
        + verdict
        + _data_table(rows, columns, numeric, "target-states")
        + "<p><small>A line counts by its parent's state; an unknown state (none exported) is neither. "
        "Also in target_states.csv and target_states.json.</small></p></section>"
    )


def _writability(row: dict[str, Any]) -> dict[str, int | None]:
    state = row.get("statecode")
    if state is None:
        return {"editable": None, "admin_only": None}
    rows = int(row.get("target_rows") or 0)
    governing = STATE_OF_LINES.get(str(row.get("entity")), str(row.get("entity")))
    read_only = int(state) in READ_ONLY_STATES.get(governing, {})
    return {"editable": 0 if read_only else rows, "admin_only": rows if read_only else 0}


def render_report(
    pack: AuditPack,
    title: str = "p2c-dualwrite — column lineage audit",
    *,
    context: dict[str, Any] | None = None,
    tables: AuditTables | None = None,
) -> str:
    toc = []
    sections = []
    for table in pack.tables():
        columns = [c for c in pack.columns if c.relation == table]
        toc.append(f"<h2>{escape(table)}</h2>")
        toc += [
            f'<a href="#{escape(_column_id(c))}" data-target="{escape(_column_id(c))}">{escape(c.column)}</a>'
            for c in columns
        ]
        sections.append(
            f'<section class="table" id="t-{escape(table)}" data-table="{escape(table)}">'
            f"<h2>{escape(table)}</h2>" + "".join(_article(c) for c in columns) + "</section>"
        )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    first_screen = (_build_header(context) if context is not None else "") + (
        _proof_sections(tables) if tables is not None else ""
    )
    proof_toc = (
        '<h2>Proof</h2><a href="#build">build</a><a href="#reconciliation">reconciliation</a>'
        '<a href="#rejects">rejected rows</a><a href="#files">landed files</a>'
        '<a href="#target-states">target rows per state</a>'
        if context is not None or tables is not None
        else ""
    )
    problems = len(pack.findings)
    status = (
        '<span class="ok">declarations match the SQL</span>'
        if not problems
        else f'<span class="bad">{problems} declaration finding(s)</span>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_asset("report.css")}</style></head>
<body>
<header class="top"><h1>{escape(title)}</h1>
<span class="meta">{len(pack.tables())} tables · {len(pack.columns)} columns · generated {generated}
· {status}</span>
<input id="search" type="search" autocomplete="off"
 placeholder="Search columns, export headers, sources, rules, SQL…">
<span id="count" class="meta"></span></header>
<div class="layout"><nav id="toc">{proof_toc}{"".join(toc)}</nav>
<main>{first_screen}<p id="no-match" hidden>No column matches the search.</p>{"".join(sections)}</main></div>
<script>{_asset("report.js")}</script>
</body></html>
"""
