import pytest
from omegaconf import OmegaConf
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from lif.tracking import DEFAULT_URL, TrialStore, connect, connect_read_only, default_url
from support import CONFIG_DIR


def test_the_config_default_is_the_tools_default(monkeypatch):
    config = OmegaConf.load(CONFIG_DIR / "tracking" / "default.yaml")
    monkeypatch.delenv("LIF_TRACKING_URL", raising=False)
    assert config.url == default_url() == DEFAULT_URL == "sqlite:///outputs/lif.db"
    monkeypatch.setenv("LIF_TRACKING_URL", "postgresql+psycopg://team@db/lif")
    assert config.url == default_url() == "postgresql+psycopg://team@db/lif"


def test_sqlite_uses_a_write_ahead_log_and_waits_for_locks(tmp_path):
    engine = connect(f"sqlite:///{tmp_path}/nested/folder/lif.db")  # folders are created
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000


def test_read_only_engine_cannot_write(tmp_path):
    url = f"sqlite:///{tmp_path}/lif.db"
    TrialStore(url).start_trial("e")
    with connect_read_only(url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM trial")).scalar() == 1
        with pytest.raises(OperationalError, match="readonly"):
            connection.execute(text("DELETE FROM trial"))


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        connect_read_only(f"sqlite:///{tmp_path}/nothing.db")


def test_a_database_from_an_older_version_gains_the_new_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # the experiment table as the first release made it
        old.execute("CREATE TABLE experiment (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, "
                    "description TEXT NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL)")
        old.execute("INSERT INTO experiment VALUES (1, 'kept', 'from before', '2026-01-01', '2026-01-01')")
    store = TrialStore(f"sqlite:///{path}")
    store.start_trial("kept", study_name="study", study_storage="sqlite:///optuna.db")
    with sqlite3.connect(path) as new:
        assert new.execute("SELECT name, description, study_name FROM experiment").fetchall() == [("kept", "from before", "study")]


def test_a_zero_byte_file_is_an_empty_database_that_connect_fills(tmp_path):
    from lif.tracking.database import NotATrackingDatabase

    path = tmp_path / "lif.db"
    path.touch()
    url = f"sqlite:///{path}"
    with pytest.raises(NotATrackingDatabase, match=f"no lif tracking tables in {path}: run train.py first"):
        connect_read_only(url)
    TrialStore(url).start_trial("e")  # what a job does: the tables are created in the empty file
    with connect_read_only(url).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM trial")).scalar() == 1
