"""The audit report's first screen shows `audit.dualwrite_target_states` like its other proof sections: per
table and state the target rows, how many are editable and how many only an admin may write (lines by their
parent's state; a state the export lacked is neither)."""

from __future__ import annotations

import re
from html import unescape

from p2c.lineage.audit_tables import AuditTables
from p2c.lineage.graph import LineageGraph
from p2c.lineage.pack_contents import AuditPack
from p2c.lineage.report_html import render_report

STATES = [
    {"entity": "account", "state_of": "record", "statecode": 1, "state_label": "Inactive", "target_rows": 3},
    {"entity": "quote", "state_of": "record", "statecode": 0, "state_label": "Draft", "target_rows": 5},
    {"entity": "quote", "state_of": "record", "statecode": 2, "state_label": "Won", "target_rows": 7},
    {"entity": "quote", "state_of": "record", "statecode": None, "state_label": "unknown", "target_rows": 1},
    {
        "entity": "salesorderdetail",
        "state_of": "parent",
        "statecode": 4,
        "state_label": "Invoiced",
        "target_rows": 11,
    },
]
EMPTY_PACK = AuditPack([], [], {}, LineageGraph({}, {}))


def _rows(html: str, section_id: str) -> list[list[str]]:
    start = html.index(f'id="{section_id}"')
    section = html[start : html.index("</section>", start)]
    return [
        [unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", section)
        if "<td" in row
    ]


def test_the_report_shows_target_rows_per_state_editable_and_admin_only() -> None:
    html = render_report(EMPTY_PACK, tables=AuditTables(target_states=STATES))
    assert '<a href="#target-states">' in html  # in the proof's table of contents
    first_screen = html[: html.index("</main>")]
    assert "Target rows per state" in first_screen
    rows = {(r[0], r[3]): r for r in _rows(html, "target-states")}
    # entity, state of, statecode, state, rows, editable, admin only
    assert rows[("account", "Inactive")][4:] == ["3", "3", "0"]
    assert rows[("quote", "Draft")][4:] == ["5", "5", "0"]
    assert rows[("quote", "Won")][4:] == ["7", "0", "7"]
    assert rows[("quote", "unknown")][4:] == ["1", "", ""]
    assert rows[("salesorderdetail", "Invoiced")][4:] == ["11", "0", "11"]
    assert "Also in target_states.csv and target_states.json" in html


def test_the_report_says_when_the_target_states_are_not_built() -> None:
    html = render_report(EMPTY_PACK, tables=AuditTables())
    start = html.index('id="target-states"')
    assert "not built" in html[start : html.index("</section>", start)]
