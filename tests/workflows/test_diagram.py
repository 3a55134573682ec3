"""The SVG on the help page is drawn from the one machine definition: every state and transition appears."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from workflows import WORKFLOW, State
from workflows.diagram import svg_diagram


def test_svg_names_every_state_and_transition_and_is_well_formed():
    data = WORKFLOW.as_data()
    svg = svg_diagram(data, {"draft": "Entwurf <neu>"})
    root = ET.fromstring(svg)  # well-formed, labels escaped
    texts = {element.text for element in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {s.value for s in State} <= texts
    assert {t["name"] for t in data["transitions"]} <= texts
    assert "Entwurf <neu>" in texts
    edges = sum(len(t["from"]) for t in data["transitions"])
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) == edges + 1  # + the arrow marker


def test_help_page_shows_the_diagram(app):
    response = app.test_client().get("/hilfe")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<svg" in html
    assert 'role="img"' in html
