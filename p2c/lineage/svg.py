"""An inline SVG of one column's path: export headers on the left, the dualwrite column on the right, one box
per column on the way, one arrow per hop (dashed for join keys). No script, no external file: it prints and
archives."""

from __future__ import annotations

from html import escape

from p2c.lineage.graph import JOIN
from p2c.lineage.pack_contents import HEADER, Hop

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 240, 40, 56, 12, 10
MAX_LABEL = 34
KIND_COLOURS = {
    "pass-through": "#5b8def",
    "rename": "#2a9d8f",
    "transformation": "#e76f51",
    "constant": "#8d99ae",
    "configuration": "#9b5de5",
    "lookup": "#f4a261",
    "join": "#adb5bd",
    "header": "#264653",
}


def _fit(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _label_lines(name: str) -> tuple[str, str]:
    """(small first line, main line): `relation` over `column`; an export header on one line."""
    if name.startswith(f"{HEADER}:"):
        return "export header", _fit(name.removeprefix(f"{HEADER}:"))
    relation, _, column = name.rpartition(".")
    return _fit(relation), _fit(column)


def _depths(target: str, hops: list[Hop]) -> dict[str, int]:
    """Longest distance from the target, so every arrow points right."""
    depth = {target: 0}
    for _ in range(len(hops) + 1):
        changed = False
        for hop in hops:
            if hop.target in depth and depth.get(hop.source, -1) < depth[hop.target] + 1:
                depth[hop.source] = depth[hop.target] + 1
                changed = True
        if not changed:
            break
    return depth


def path_svg(target: str, hops: list[Hop]) -> str:
    depth = _depths(target, hops)
    deepest = max(depth.values())
    layers: dict[int, list[str]] = {}
    for name, d in sorted(depth.items(), key=lambda item: item[0]):
        layers.setdefault(d, []).append(name)
    position: dict[str, tuple[int, int]] = {}
    for d, names in layers.items():
        x = PAD + (deepest - d) * (BOX_W + GAP_X)
        for i, name in enumerate(names):
            position[name] = (x, PAD + i * (BOX_H + GAP_Y))
    width = PAD * 2 + (deepest + 1) * BOX_W + deepest * GAP_X
    height = PAD * 2 + max(len(n) for n in layers.values()) * (BOX_H + GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="path-graph" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage of {escape(target)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    for hop in hops:
        if hop.source not in position or hop.target not in position:
            continue
        sx, sy = position[hop.source]
        tx, ty = position[hop.target]
        x1, y1, x2, y2 = sx + BOX_W, sy + BOX_H // 2, tx, ty + BOX_H // 2
        dash = ' stroke-dasharray="5 4"' if hop.kind == JOIN else ""
        colour = KIND_COLOURS.get(hop.kind, "#555")
        mid = (x1 + x2) // 2
        parts.append(
            f'<path class="hop hop-{escape(hop.kind)}" d="M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}" '
            f'fill="none" stroke="{colour}" stroke-width="2"{dash} marker-end="url(#arrow)">'
            f"<title>{escape(hop.kind)}: {escape(hop.expression)}</title></path>"
        )
    for name, (x, y) in position.items():
        kind = "target" if name == target else ("header" if name.startswith(f"{HEADER}:") else "column")
        parts.append(
            f'<g class="node node-{kind}"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            f'<text class="rel" x="{x + 8}" y="{y + 15}">{escape(_label_lines(name)[0])}</text>'
            f'<text x="{x + 8}" y="{y + 31}">{escape(_label_lines(name)[1])}</text>'
            f"<title>{escape(name)}</title></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
