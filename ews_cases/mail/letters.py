"""Letters from their templates: `templates/mail/<kind>.txt` holds a letter's subject and body, in German.

Every template extends `templates/mail/_letter.txt`, which holds the greeting and the signature. Texts are
translated with the same `_` as the code (German msgids, `{placeholders}`), in the programme's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_babel import force_locale
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ews_cases.i18n.translate import _
from ews_cases.settings import current_settings

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=False,  # plain text: "O'Brien & Söhne" is written as it is, not as HTML entities
    undefined=StrictUndefined,  # a misspelt name fails the rendering instead of leaving a gap in the letter
    trim_blocks=True,  # a line holding only a tag ({% if %}, {% block %}) leaves no line in the letter
    lstrip_blocks=True,
    keep_trailing_newline=True,
    auto_reload=False,  # read once per process, like the code
)
_environment.globals["_"] = _


@dataclass(frozen=True, slots=True)
class Letter:
    subject: str
    body: str


def render_letter(kind: str, /, **data: Any) -> Letter:
    """Subject and body of letter `kind` filled in with `data`, in the programme's language."""
    template = _environment.get_template(f"mail/{kind}.txt")
    with force_locale(current_settings().default_locale):
        context = template.new_context(data)
        try:
            # The whole template is the body; then its `subject` block, in the same context (it may use
            # names the template sets at its top).
            body = "".join(template.root_render_func(context))
            subject = "".join(context.blocks["subject"][0](context))
        except Exception:
            _environment.handle_exception()  # re-raised with the template's lines in the traceback
    return Letter(subject, body)
