"""Reading delivered messages in tests: a letter is multipart (text/plain + text/html, maybe attachments)."""

from __future__ import annotations

from email.message import Message


def plain_text(message: Message) -> str:
    """The letter's text/plain part, decoded (its text/html alternative says the same)."""
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/plain part in {message.get_content_type()}")
