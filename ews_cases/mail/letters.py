"""Letters from their templates: `templates/mail/<kind>.txt` holds a letter's subject and body, in German.

Every template extends `templates/mail/_letter.txt`, which holds the greeting and the signature. Texts are
translated with the same `_` as the code (German msgids, `{placeholders}`), in the programme's language.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
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


@dataclass(frozen=True, slots=True)
class LetterForm:
    """A letter rendered once with blanks: its texts cut into pieces, a blank's name at every odd place."""

    subject: tuple[str, ...]
    body: tuple[str, ...]

    def fill(self, **values: str) -> Letter:
        """The letter with `values` in its blanks: no translation, no template, a join per text."""
        return Letter(_fill(self.subject, values), _fill(self.body, values))


def letter_form(kind: str, blanks: Collection[str], /, **data: Any) -> LetterForm:
    """Letter `kind` rendered once with `data`, the names in `blanks` left open for `LetterForm.fill`.

    For one letter to many readers (a reminder campaign reaches ~100,000 contacts), where rendering each
    one would translate every sentence again. A blank reaches the text as it is (no filter applies to it);
    the template may ask whether it is defined, not what it holds.
    """
    names = "|".join(re.escape(name) for name in blanks) or "(?!)"  # (?!) matches nothing
    marked = re.compile(f"\x00({names})\x00")
    letter = render_letter(kind, **data, **{name: f"\x00{name}\x00" for name in blanks})
    return LetterForm(tuple(marked.split(letter.subject)), tuple(marked.split(letter.body)))


def _fill(pieces: tuple[str, ...], values: Mapping[str, str]) -> str:
    filled = list(pieces)
    for place in range(1, len(filled), 2):
        filled[place] = values[filled[place]]
    return "".join(filled)
