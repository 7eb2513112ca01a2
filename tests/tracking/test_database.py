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
