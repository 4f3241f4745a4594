"""The shape the code keeps (issue 10): short functions, and the layers apart —
nothing under ``http/`` or ``console/`` speaks to ``storage/``, and only
``storage/`` imports SQLAlchemy. Read from the source, so a change that breaks
the shape fails here rather than in a review."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "klatch"
MAX_FUNCTION_LINES = 90  # "about 80"; a migration's table list may run a little over


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(SRC.rglob("*.py"))]


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_function_is_longer_than_about_80_lines() -> None:
    long = [
        f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, "functions too long to read at once:\n" + "\n".join(long)


def test_http_and_console_do_not_reach_into_storage() -> None:
    crossing = [
        f"{path.relative_to(SRC)} imports {name}"
        for path, tree in _modules()
        if path.relative_to(SRC).parts[0] in {"http", "console"}
        for name in _imports(tree)
        if name == "klatch.storage" or name.startswith("klatch.storage.")
    ]
    assert not crossing, "\n".join(crossing)


def test_only_storage_speaks_sql() -> None:
    speaking = [
        f"{path.relative_to(SRC)} imports {name}"
        for path, tree in _modules()
        if path.relative_to(SRC).parts[0] != "storage"
        for name in _imports(tree)
        if name == "sqlalchemy" or name.startswith("sqlalchemy.")
    ]
    assert not speaking, "\n".join(speaking)
