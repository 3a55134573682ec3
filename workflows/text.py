"""Translation marker usable without Flask: the app translates the marked German msgids."""


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    """Mark a string for translation without translating it here."""
    return message
