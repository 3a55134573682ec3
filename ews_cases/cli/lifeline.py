"""Processes that end with their parent, however it ends (Linux `PR_SET_PDEATHSIG`).

`ews run` starts web, worker, beat and Redis as children, and gunicorn and Celery start children of their own.
When a parent is killed outright (`kill -9`, the OOM killer), nobody stops its children: they keep the port,
the queue and the beat lock, and the next start fails with "Address already in use". The kernel can send a
process a signal when its parent ends; each level asks for it for the processes it starts. Elsewhere than on
Linux this does nothing (there, only a clean stop stops the children).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


# Looked up once, at import: a child between fork and exec must not load libraries.
_PRCTL = _load_prctl()


def end_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Ask for `sig` when the parent ends; if it ended already (before the request took hold), exit now.

    The kernel signals when the *thread* that started this process ends: start children from the main thread.
    """
    if _PRCTL is None:
        return
    _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def ending_with_this_process(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` for `subprocess.Popen`: the child gets `sig` when this process ends."""
    parent_pid = os.getpid()

    def preexec() -> None:
        end_with_parent(parent_pid, sig)

    return preexec
