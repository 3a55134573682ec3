"""Compile the translation catalogues (`.po` → `.mo`) for Flask-Babel; `.mo` files are not committed."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"


def compile_catalogues(directory: str | os.PathLike[str] | None = None, *, force: bool = False) -> list[Path]:
    """Compile every `.po` below `directory` whose `.mo` is missing or stale; return the `.mo` files written.

    Cheap when nothing changed (two `stat` calls per catalogue), so it can run at every start-up. A directory
    that cannot be written (a read-only install) is logged and skipped, not fatal: the app then falls back to
    the German msgids.
    """
    root = Path(directory) if directory is not None else TRANSLATIONS_DIR
    compiled: list[Path] = []
    for po_path in sorted(root.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if not force and _is_current(mo_path, po_path):
            continue
        try:
            _compile(po_path, mo_path)
        except OSError as exc:
            log.warning("could not write %s: %s", mo_path, exc)
            continue
        log.info("compiled %s", mo_path)
        compiled.append(mo_path)
    return compiled


def _is_current(mo_path: Path, po_path: Path) -> bool:
    """Whether `mo_path` was compiled from `po_path` as it is now: `_compile` stamps it with the `.po`'s time.

    Equality rather than "newer than" also catches a `.po` replaced by one with an older date (an install of
    another version, `cp -p`), and a `.po` dated in the future is not recompiled at every start.
    """
    try:
        return mo_path.stat().st_mtime_ns == po_path.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def _compile(po_path: Path, mo_path: Path) -> None:
    po_mtime_ns = po_path.stat().st_mtime_ns  # before reading: an edit made meanwhile is compiled next time
    locale = po_path.parent.parent.name
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale, domain=po_path.stem)
    # Write beside the target and rename: app processes starting in parallel never read half a file.
    fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, prefix=f".{mo_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=False)
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; the app may run as another user than the installer
        # The `.mo` carries its `.po`'s time: see `_is_current`.
        os.utime(tmp_name, ns=(time.time_ns(), po_mtime_ns))
        os.replace(tmp_name, mo_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


if __name__ == "__main__":  # python -m ews_cases.i18n.build [--force]
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    written = compile_catalogues(force="--force" in sys.argv[1:])
    print(f"{len(written)} catalogue(s) compiled")
