"""The `Prefer` request header and the `Preference-Applied` answer (OData 4.0 preferences)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping


def parse_prefer(header: str | None) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for item in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", header or ""):
        name, _, value = item.strip().partition("=")
        if name:
            prefs[name.lower()] = value.strip().strip('"')
    return prefs


def included_annotations(prefer: Mapping[str, str]) -> Callable[[str], bool] | None:
    """Which annotations `Prefer: odata.include-annotations="..."` asks for: `*`, names, `Namespace.*`
    wildcards, `-name` exclusions (OData 4.0 preference); None when it is not sent."""
    wanted = prefer.get("odata.include-annotations")
    if wanted is None:
        return None
    patterns = [p.strip() for p in wanted.split(",") if p.strip()]

    def matches(pattern: str, term: str) -> bool:
        return pattern == "*" or pattern == term or (pattern.endswith("*") and term.startswith(pattern[:-1]))

    def include(term: str) -> bool:
        if any(matches(p[1:], term) for p in patterns if p.startswith("-")):
            return False
        return any(matches(p, term) for p in patterns if not p.startswith("-"))

    return include


def applied_preferences(prefer: Mapping[str, str], others: Iterable[str] = ()) -> dict[str, str]:
    """`Preference-Applied`: the preferences this answer honoured, comma-separated (the annotations asked
    for are echoed as they were sent)."""
    applied = list(others)
    if "odata.include-annotations" in prefer:
        applied.insert(0, f'odata.include-annotations="{prefer["odata.include-annotations"]}"')
    return {"Preference-Applied": ",".join(applied)} if applied else {}
