"""Database access: engines, migrations and a session scope per unit of work.

The schema is created and upgraded only by Alembic (``migrations/``). An embedded SQLite database is
upgraded automatically on first use; any other database must be upgraded explicitly with
``farm db upgrade`` (a farm's shared PostgreSQL should not change under a running worker by surprise).
SQLAlchemy errors are translated into ``StorageError`` here and nowhere else.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.config import Settings
from orchestrator.errors import ConfigError, StorageError
from orchestrator.secrets import mask_url

__all__ = [
    "current_revision",
    "database_url",
    "dispose_engines",
    "downgrade",
    "get_engine",
    "head_revision",
    "migration_engine",
    "prepare_home",
    "session_scope",
    "upgrade",
]

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


#: the newest revision in migrations/ (a test pins it to Alembic's head): every engine compares the
#: database with it, and reading it from here spares each `farm` start Alembic's import and its
#: parse of every migration script (about 0.2 s; ``benchmarks/overhead.py``, startup_s)
HEAD_REVISION = "0005"


def head_revision() -> str:
    return HEAD_REVISION


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (Alembic's ``alembic_version`` row), None when it has none."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _run_alembic(engine: Engine, action: str, target: str) -> None:
    # Lazy: Alembic is needed only to migrate, which a database at head never does (see
    # HEAD_REVISION).
    from alembic import command, config

    cfg = config.Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    # Alembic's config is a ConfigParser: a "%" (an escaped character of the password) must be
    # doubled, or it refuses the URL with an error that quotes it, password and all.
    cfg.set_main_option("sqlalchemy.url",
                        engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, target)
    except SQLAlchemyError as exc:
        raise StorageError(f"database migration ({action} {target}) failed: {exc}",
                           hint="check FARM_DATABASE_URL and the database's permissions") from exc


def upgrade(engine: Engine, target: str = "head") -> None:
    _run_alembic(engine, "upgrade", target)


def downgrade(engine: Engine, target: str) -> None:
    _run_alembic(engine, "downgrade", target)


#: seconds a PostgreSQL connection may take to be established: without a limit, a server that
#: accepts connections but never answers holds every command for minutes (issue 28: 132 s)
CONNECT_TIMEOUT_S = 10


_URL_HINT = ("set FARM_DATABASE_URL to sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, or "
             "unset it for the SQLite file in FARM_HOME")


def database_url(url: str) -> URL:
    """``url`` parsed; one that does not parse (a port that is not a number, ...) is a
    ``ConfigError``. Its form was checked with the settings (``orchestrator.config``)."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"the database URL (FARM_DATABASE_URL) does not parse: {exc}",
                          hint=_URL_HINT) from None


def _create_engine(url: str, **options: Any) -> Engine:
    """An engine with its server's connect timeout (a ``connect_timeout`` in the URL wins); a
    dialect or driver that is not installed is a ``ConfigError``."""
    if database_url(url).get_backend_name() == "postgresql" and "connect_timeout" not in url:
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        return create_engine(url, **options)
    except ImportError as exc:  # the URL's driver: postgresql+pg8000 without pg8000
        raise ConfigError(f"the database URL (FARM_DATABASE_URL) needs a driver that is not "
                          f"installed: {exc}", hint=_URL_HINT) from None
    except (ArgumentError, ValueError) as exc:  # NoSuchModuleError: no such dialect or driver
        raise ConfigError(f"the database URL (FARM_DATABASE_URL) cannot be used: {exc}",
                          hint=_URL_HINT) from None


def migration_engine(settings: Settings) -> Engine:
    """A plain engine on the configured database, for ``farm db``: unlike ``get_engine`` it works
    on a database that is not at the head revision yet."""
    if settings.values["database_url"].value is None:
        prepare_home(settings)
    return _create_engine(settings.effective_database_url)


def prepare_home(settings: Settings) -> None:
    """Create FARM_HOME, or say clearly why it cannot be used: it holds the embedded database,
    tools, replicas and reports. Writability is tried with a file, not read off the mode bits
    (root passes ``os.access`` on a read-only file system)."""
    home = settings.home_path
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create FARM_HOME {home}: {exc.strerror}",
                          hint="set FARM_HOME to a writable folder") from exc
    try:
        with tempfile.NamedTemporaryFile(dir=home, prefix=".farm-write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"FARM_HOME {home} is not writable: {exc.strerror}",
                          hint="set FARM_HOME to a writable folder") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets report readers run beside the executor's writer threads; the busy timeout makes
    # concurrent writers wait for each other instead of failing with "database is locked".
    # synchronous=NORMAL: in WAL mode a commit survives the process being killed (what a farm
    # meets); only an OS crash or power loss can drop the last commits, never corrupt the file.
    # It spares each stored session an fsync (benchmarks/overhead.py).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_engine(settings: Settings) -> Engine:
    """The process-wide engine for the configured database, migrated to head when embedded."""
    url = settings.effective_database_url
    with _engines_lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        embedded = settings.values["database_url"].value is None
        if embedded:
            prepare_home(settings)
        try:
            if url.startswith("sqlite"):
                engine = _create_engine(url, connect_args={"check_same_thread": False})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = _create_engine(url, pool_pre_ping=True)
            revision = current_revision(engine)
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot open the database {mask_url(url)}: {exc}",
                               hint="check FARM_DATABASE_URL and that the server is up") from exc
        if revision != head_revision():
            if embedded or url.startswith("sqlite"):
                upgrade(engine)
            else:
                raise StorageError(
                    f"the database is at schema revision {revision or 'none'}, "
                    f"this farm needs {head_revision()}",
                    hint="run `farm db upgrade`",
                )
        _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Forget every engine: after a fork, and between tests that switch databases."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    factory = sessionmaker(get_engine(settings), expire_on_commit=False)
    db = factory()
    try:
        yield db
        db.commit()
    except SQLAlchemyError as exc:
        db.rollback()
        raise StorageError(f"database error: {exc}", hint="see the message; nothing was saved") from exc
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
