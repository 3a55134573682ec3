"""The state machine drawn as SVG from its one definition (help page; no JavaScript, no external renderer).

States are placed in columns by their distance from the initial state, transitions drawn as labelled arrows.
"""

from __future__ import annotations

from collections import defaultdict, deque
from html import escape
from typing import Any

BOX_W, BOX_H, COL_W, ROW_H, MARGIN = 178, 44, 275, 90, 20


def _columns(data: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(column, row) per state: breadth-first depth from the initial state, in definition order."""
    edges: dict[str, list[str]] = defaultdict(list)
    for t in data["transitions"]:
        for source in t["from"]:
            edges[source].append(t["to"])
    depth = {data["initial"]: 0}
    queue = deque([data["initial"]])
    while queue:
        state = queue.popleft()
        for target in edges[state]:
            if target not in depth:
                depth[target] = depth[state] + 1
                queue.append(target)
    rows: dict[int, int] = defaultdict(int)
    places = {}
    for state in (s["name"] for s in data["states"]):
        column = depth.get(state, max(depth.values()) + 1)
        places[state] = (column, rows[column])
        rows[column] += 1
    return places


def _at_border(fx: float, fy: float, cx: float, cy: float) -> tuple[float, float]:
    """Where the line from (fx, fy) towards the box centred at (cx, cy) enters the box."""
    dx, dy = cx - fx, cy - fy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(BOX_W / 2 / abs(dx) if dx else float("inf"), BOX_H / 2 / abs(dy) if dy else float("inf"))
    return cx - dx * scale, cy - dy * scale


def svg_diagram(data: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """SVG markup for `CaseWorkflow.as_data()`; `labels` maps state names to (translated) captions."""
    labels = labels or {}
    places = _columns(data)
    width = MARGIN * 2 + (max(c for c, _ in places.values()) + 1) * COL_W
    height = MARGIN * 2 + (max(r for _, r in places.values()) + 1) * ROW_H + 20

    def centre(state: str) -> tuple[float, float]:
        column, row = places[state]
        return MARGIN + column * COL_W + BOX_W / 2, MARGIN + 20 + row * ROW_H + BOX_H / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        'font-family="system-ui, sans-serif" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    final = {s["name"] for s in data["states"] if s["final"]}
    for t in data["transitions"]:
        for source in t["from"]:
            (x1, y1), (x2, y2) = centre(source), centre(t["to"])
            bend = -28 if places[source][0] >= places[t["to"]][0] else 0  # back or same-column edges arc
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2 + bend
            x2, y2 = _at_border(mx, my, x2, y2)  # the arrowhead must sit on the box's edge, not under it
            parts.append(
                f'<path d="M {x1:.0f} {y1:.0f} Q {mx:.0f} {my:.0f} {x2:.0f} {y2:.0f}" fill="none" stroke="#888" '
                f'stroke-width="1.2" marker-end="url(#arrow)"><title>{escape(t["name"])}</title></path>'
            )
            parts.append(
                f'<text x="{mx:.0f}" y="{my - 3:.0f}" text-anchor="middle" fill="#333">'
                f"{escape(t['name'])}</text>"
            )
    for state, (column, row) in places.items():
        x, y = MARGIN + column * COL_W, MARGIN + 20 + row * ROW_H
        fill = "#e9ecef" if state in final else "#e7f1f8"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
            'stroke="#005a8c" stroke-width="1.5"/>'
        )
        parts.append(
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + 18}" text-anchor="middle" font-weight="600" '
            f'fill="#1d1d1b">{escape(labels.get(state, state))}</text>'
        )
        parts.append(
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + 33}" text-anchor="middle" fill="#555">'
            f"{escape(state)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
