"""Run the app under gunicorn from Python (`ews web`), without a separate config file."""

from __future__ import annotations

import multiprocessing
from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from ews_cases.wsgi import app

        return app


def serve(host: str, port: int, *, workers: int | None = None, threads: int = 4) -> None:
    """Start gunicorn in the foreground; the app (and its migration check) loads in each worker."""
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers or multiprocessing.cpu_count() * 2 + 1,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            "timeout": 60,
            "graceful_timeout": 20,
        }
    ).run()
