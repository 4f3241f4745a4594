"""Schema migrations with Alembic, run programmatically (``klatch migrate``, or on start)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"
SEARCH_INDEX_PREFIX = "ixs_"  # klatch.storage.search.INDEX_PREFIX


def alembic_url(database_url: str | None, sqlite_path: Path) -> str:
    """The SQLAlchemy URL Alembic connects with (asyncpg for PostgreSQL)."""
    if database_url and database_url.startswith("postgres"):
        rest = database_url.split("://", 1)[1]
        return f"postgresql+asyncpg://{rest}"
    return f"sqlite:///{sqlite_path}"


def include_for_dialect(name: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` hook for dialect ``name``: leave out what
    ``tables.py`` declares only for another dialect (``.ddl_if(dialect=...)``,
    such as PostgreSQL's GIN index) and the indexes made at run time for attribute
    definitions, so autogenerate compares like with like."""

    def include(obj: object, object_name: object = None, type_: object = None, *_: object) -> bool:
        # The indexes that follow the klass definitions are made at run time and are
        # not in tables.py; they are named ixs_… (klatch.storage.search), and left out.
        if type_ == "index" and str(object_name or "").startswith(SEARCH_INDEX_PREFIX):
            return False
        ddl_if = getattr(obj, "_ddl_if", None)
        return ddl_if is None or ddl_if.dialect in (None, name)

    return include


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``. Safe to run from several replicas at once
    (PostgreSQL takes an advisory lock); blocking, so async callers use a thread."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(_config(url), revision)


def head_revision() -> str:
    script = ScriptDirectory.from_config(_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision_sync(connection: object) -> str | None:
    context = MigrationContext.configure(connection)  # type: ignore[arg-type]
    return context.get_current_revision()
