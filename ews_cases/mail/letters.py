"""Letters from their templates: `templates/mail/<kind>.txt` holds a letter's subject and body, in German.

Every template extends `templates/mail/_letter.txt`, which holds the greeting and the signature (the
programme office's contact from the settings). Texts are translated with the same `_` as the code (German
msgids, `{placeholders}`), in the programme's language.

The text is the one source of a letter: its HTML alternative (`letter_html`, `templates/mail/_letter.html`)
is the same text, its paragraphs as paragraphs and its links as links, so the two can never say different
things.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_babel import force_locale
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ews_cases.i18n.formatting import FILTERS
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
_environment.filters.update(FILTERS)
_environment.globals["_"] = _
#: The HTML alternative's frame: escapes everything it is given.
_html_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)

#: Words that start a family name ("Anna von der Heide" → "von der Heide").
_NAME_PARTICLES = frozenset(
    {"von", "van", "de", "der", "den", "del", "di", "du", "la", "le", "ten", "ter", "zu", "zum", "zur", "vom"}
)
#: Academic titles kept before the family name ("Sehr geehrte Frau Dr. Heide").
_TITLES = frozenset({"dr.", "prof.", "prof.dr.", "dr.-ing.", "dipl.-ing."})


@dataclass(frozen=True, slots=True)
class Letter:
    subject: str
    body: str

    @property
    def html(self) -> str:
        """The letter as a `text/html` alternative (the same text)."""
        return letter_html(self.subject, self.body)


def formal_name(name: str) -> str:
    """The name as a formal greeting uses it: academic titles and the family name ("Dr. Anna von der
    Heide" → "Dr. von der Heide"); the whole name when it is a single word."""
    words = name.split()
    titles = []
    while len(words) > 1 and words[0].lower() in _TITLES:
        titles.append(words.pop(0))
    start = len(words) - 1
    while start > 0 and words[start - 1] in _NAME_PARTICLES:
        start -= 1
    return " ".join(titles + words[start:])


def greeting(name: str | None = None, salutation: str | None = None) -> str:
    """The letter's first line: "Sehr geehrte Frau Heide," with a known salutation, "Guten Tag Anna
    Heide," with a name only, else "Guten Tag,"."""
    name = (name or "").strip()
    if name and salutation == "Frau":
        return _("Sehr geehrte Frau {name},", name=formal_name(name))
    if name and salutation == "Herr":
        return _("Sehr geehrter Herr {name},", name=formal_name(name))
    if name:
        return _("Guten Tag {name},", name=name)
    return _("Guten Tag,")


def greetings() -> Callable[[str | None, str | None], str]:
    """`greeting` for many readers of one letter form: its sentences translated once, in the programme's
    language, then only the name put in per reader."""
    with force_locale(current_settings().default_locale):
        formal = {salutation: greeting("\x00", salutation).split("\x00") for salutation in ("Frau", "Herr")}
        named = greeting("\x00").split("\x00")
        anonymous = greeting()

    def greet(name: str | None, salutation: str | None = None) -> str:
        name = (name or "").strip()
        if not name:
            return anonymous
        if salutation in formal:
            return formal_name(name).join(formal[salutation])
        return name.join(named)

    return greet


def office() -> dict[str, str]:
    """The programme office as the signature names it (EWS_OFFICE_*)."""
    settings = current_settings()
    return {
        "name": settings.office_name.strip(),
        "address": settings.office_address.strip(),
        "phone": settings.office_phone.strip(),
        "email": settings.office_email.strip(),
    }


_environment.globals["greeting"] = greeting


def render_letter(kind: str, /, **data: Any) -> Letter:
    """Subject and body of letter `kind` filled in with `data`, in the programme's language.

    A letter given a `name` (and a `salutation`, services.cases.SALUTATIONS) greets its reader by name; one given
    `opening` (a ready greeting line, for `letter_form`) starts with it.
    """
    template = _environment.get_template(f"mail/{kind}.txt")
    with force_locale(current_settings().default_locale):
        context = template.new_context({"office": office(), **data})
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


_URL = re.compile(r"https?://[^\s<>\"“”„]+[^\s<>\"“”„.,;:!?)]")


def letter_html(subject: str, body: str) -> str:
    """The letter's `text/html` alternative: a complete, valid HTML document in the programme's language
    with the subject as its title, each paragraph of the text as a paragraph (its lines kept), every web
    address as a link; nothing from outside (no images, styles or fonts to load)."""
    paragraphs = [
        [_segments(line) for line in paragraph.split("\n")]
        for paragraph in body.strip("\n").split("\n\n")
        if paragraph.strip()
    ]
    template = _html_environment.get_template("mail/_letter.html")
    return template.render(lang=current_settings().default_locale, subject=subject, paragraphs=paragraphs)


def _segments(line: str) -> list[tuple[str, bool]]:
    """A line cut into text and web addresses: (text, is_link) pairs."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in _URL.finditer(line):
        if match.start() > position:
            pieces.append((line[position : match.start()], False))
        pieces.append((match.group(0), True))
        position = match.end()
    if position < len(line):
        pieces.append((line[position:], False))
    return pieces
