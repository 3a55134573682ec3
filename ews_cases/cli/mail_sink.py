"""A local SMTP server that stores every message as an .eml file (for `ews run` without a mail server)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        name = f"{time.time_ns()}-{len(list(self.folder.iterdir()))}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start_mail_sink(folder: Path, host: str = "127.0.0.1", port: int = 1025) -> Controller:
    controller = Controller(_SaveToFolder(folder), hostname=host, port=port)
    controller.start()
    return controller
