"""The effect → handler table: every workflow effect has exactly one handler."""

from __future__ import annotations

import ast
import inspect

from ews_cases.services import effects
from ews_cases.services.effects import HANDLERS
from workflows import Effect


def _table_keys() -> list[str]:
    """The keys of the `HANDLERS` literal as written (a key written twice would silently keep one handler)."""
    for node in ast.walk(ast.parse(inspect.getsource(effects))):
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "HANDLERS":
            (table,) = [n for n in ast.walk(node.value) if isinstance(n, ast.Dict)]
            return [ast.unparse(key) for key in table.keys if key is not None]
    raise AssertionError("no HANDLERS table in ews_cases/services/effects.py")


def test_every_effect_has_exactly_one_handler():
    assert set(HANDLERS) == set(Effect)
    assert sorted(_table_keys()) == sorted(f"Effect.{effect.name}" for effect in Effect)
    assert all(callable(handler) for handler in HANDLERS.values())
