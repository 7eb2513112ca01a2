"""Connecting to the tracking database: any SQLAlchemy URL, SQLite tuned for many writers.

Default: ``sqlite:///outputs/lif.db``, a file relative to the working directory (override
with ``tracking.url=...`` or the environment variable ``LIF_TRACKING_URL``). PostgreSQL
(``postgresql+psycopg://user:password@host/db``, extra ``.[postgres]``) is the choice when
jobs on several machines share one database.

SQLite is opened with a write-ahead log and a busy timeout, so parallel jobs (the joblib
launcher, several processes) wait for each other instead of failing with "database is
locked"; every write is a short transaction.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError, DatabaseError, IntegrityError, NoSuchModuleError, OperationalError, ProgrammingError,
)
from sqlmodel import SQLModel, create_engine

from lif.errors import ConfigError
from lif.tracking import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

DEFAULT_URL = "sqlite:///outputs/lif.db"
BUSY_TIMEOUT_SECONDS = 60


def default_url() -> str:
    return os.environ.get("LIF_TRACKING_URL", DEFAULT_URL)


def _tune_sqlite(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    _use_write_ahead_log(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_write_ahead_log(cursor, attempts: int = 100) -> None:
    """Switch a new database to WAL (the mode is stored in the file: once set, nothing to do).
    Switching needs the file to itself, and SQLite answers "database is locked" at once instead
    of waiting when parallel jobs open a new database together: try again a little later."""
    for attempt in range(attempts):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


@functools.lru_cache(maxsize=8)
def connect(url: str) -> Engine:
    """An engine for ``url`` with the tables created (once per process and URL)."""
    parsed = make_url(url)
    connect_args = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": BUSY_TIMEOUT_SECONDS}
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    create_tables(engine)
    add_missing_columns(engine)
    return engine


def create_tables(engine: Engine, attempts: int = 20) -> None:
    """Create the missing tables. Parallel jobs starting on a new database race to create
    them; the loser sees "already exists" and retries, and then finds them in place."""
    for attempt in range(attempts):
        try:
            SQLModel.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as error:
            if attempt == attempts - 1 or not any(text in str(error) for text in ("already exists", "duplicate key")):
                raise
            time.sleep(0.05 * (attempt + 1))


def add_missing_columns(engine: Engine) -> None:
    """Bring a database made by an older lif up to date: add the nullable columns it lacks.

    Only additive changes happen this way; anything else is an error that says so.
    """
    inspector = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(
                    f"the tracking database {engine.url!r} lacks column {table.name}.{column.name}, which cannot be "
                    "added to existing rows; use a new database (tracking.url=...)"
                )
            kind = column.type.compile(dialect=engine.dialect)
            try:
                with engine.begin() as connection:
                    connection.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'))
            except (OperationalError, ProgrammingError) as error:  # another job added it first
                if "duplicate" not in str(error).lower() and "already exists" not in str(error):
                    raise


class NotATrackingDatabase(LookupError):
    """The database opened for reading holds none of lif's tables (empty, zero bytes, another app's, not SQLite)."""


def connect_read_only(url: str) -> Engine:
    """An engine that cannot write: SQLite opened read-only, PostgreSQL in read-only transactions.

    Raises FileNotFoundError for a SQLite file that does not exist and :class:`NotATrackingDatabase`
    for a database without lif's tables (a zero-byte file is a valid, empty SQLite database).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not path.is_file():
            raise FileNotFoundError(f"tracking database {path} does not exist (run train.py first, or pass --url)")
        engine = create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
        where = str(path)
        try:
            tables = set(inspect(engine).get_table_names())
        except DatabaseError as error:  # "file is not a database"
            raise NotATrackingDatabase(f"{where} is not a SQLite database ({error.orig})") from None
    else:
        engine = create_engine(url)
        if parsed.get_backend_name() == "postgresql":
            engine = engine.execution_options(postgresql_readonly=True)
        where = parsed.render_as_string(hide_password=True)
        tables = set(inspect(engine).get_table_names())
    if not tables & set(SQLModel.metadata.tables):
        raise NotATrackingDatabase(f"no lif tracking tables in {where}: run train.py first")
    return engine


# How to install the database drivers SQLAlchemy's URLs name (the project's extra where it has one).
DRIVER_INSTALLS = {
    "psycopg": 'pip install "lif[postgres]"',
    "psycopg2": 'use postgresql+psycopg:// and pip install "lif[postgres]", or pip install psycopg2-binary',
    "MySQLdb": "pip install mysqlclient, or use mysql+pymysql:// and pip install pymysql",
    "pymysql": "pip install pymysql",
}
USABLE_URL = "a database lif can open and write (sqlite:///path/lif.db, postgresql+psycopg://user:password@host:5432/db)"


@contextmanager
def url_errors(url: str) -> Iterator[None]:
    """Raise a database ``url`` that cannot be used as one ConfigError naming ``url`` and saying
    why: not a URL, no such kind of database, its driver not installed (and how to install it),
    the server out of reach, a file that cannot be created or is not a database."""
    try:
        yield
    except NoSuchModuleError:
        raise unusable(url, "no such kind of database") from None
    except ArgumentError:
        raise unusable(url, "not a database URL") from None
    except ImportError as error:
        driver = error.name or str(error)
        install = DRIVER_INSTALLS.get(driver, f"install the package that provides {driver}")
        raise unusable(url, f"its driver {driver} is not installed: {install}") from None
    except DatabaseError as error:
        raise unusable(url, f"cannot use it: {' '.join(str(error.orig or error).split())}") from None
    except OSError as error:
        raise unusable(url, f"cannot create it: {error.strerror or error}: {error.filename}") from None


def unusable(url: str, reason: str) -> ConfigError:
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = url
    return ConfigError("url", USABLE_URL, f"{shown} ({reason})")
