"""Which select items of a model's raw (Jinja) SQL use `var(...)`: compiled SQL only shows the rendered
literal, so a constant that came from configuration would otherwise look like a hard-coded one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_JINJA_EXPR = re.compile(r"\{\{.*?\}\}", re.S)
_JINJA_OTHER = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.S)
_VAR_CALL = re.compile(r"""\bvar\(\s*['"]([^'"]+)['"]""")
_PLACEHOLDER = re.compile(r"""['"]?__jinja_(\d+)__['"]?""")
_TOKEN = re.compile(r"""__jinja_\d+__|'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|[(),]|[A-Za-z_][\w$]*|\S""")
_ITEM_END = {"from", "where", "group", "order", "having", "qualify", "window", "union", "limit"}


@dataclass
class _Pending:
    """A var seen in a select item, waiting for that item's alias."""

    names: set[str]
    depth: int
    alias: str | None = None
    expect_alias: bool = field(default=False)


def var_aliases(raw_sql: str) -> dict[str, set[str]]:
    """{select-item alias: {var names}} for every `var('name')` inside a select item that has an alias.

    Jinja expressions become placeholders (a quoted one loses its quotes), then one pass tracks parenthesis
    depth and the depth of the innermost open select list; the item's alias is `as <name>` at that depth."""
    calls: list[set[str]] = []

    def placeholder(match: re.Match[str]) -> str:
        calls.append(set(_VAR_CALL.findall(match.group(0))))
        return f"__jinja_{len(calls) - 1}__"

    text = _JINJA_OTHER.sub(" ", _JINJA_EXPR.sub(placeholder, raw_sql))
    text = _PLACEHOLDER.sub(lambda m: f"__jinja_{m.group(1)}__", text)

    found: dict[str, set[str]] = {}
    depth = 0
    select_depths: list[int] = []
    pending: list[_Pending] = []

    def close(item: _Pending) -> None:
        if item.alias:
            found.setdefault(item.alias, set()).update(item.names)

    for match in _TOKEN.finditer(text):
        token = match.group(0)
        lowered = token.lower()
        if token.startswith("--"):
            continue
        if token == "(":
            depth += 1
            continue
        if token == ")":
            depth -= 1
            while select_depths and select_depths[-1] > depth:
                select_depths.pop()
            for item in [p for p in pending if p.depth > depth]:
                close(item)
                pending.remove(item)
            continue
        if lowered == "select":
            select_depths.append(depth)
            continue
        if token.startswith("__jinja_"):
            names = calls[int(token[len("__jinja_") : -2])]
            if names and select_depths:
                pending.append(_Pending(names=set(names), depth=select_depths[-1]))
            continue
        for item in [p for p in pending if p.depth == depth]:
            if token == "," or lowered in _ITEM_END:
                close(item)
                pending.remove(item)
            elif lowered == "as":
                item.expect_alias = True
            elif item.expect_alias:
                item.alias, item.expect_alias = token.strip('"').lower(), False
    for item in pending:
        close(item)
    return found
