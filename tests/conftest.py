"""Shared fixtures: Hydra configs composed like the app composes them (no command line)."""

from __future__ import annotations

import pytest

from support import compose_config


@pytest.fixture(autouse=True)
def tracking_database(tmp_path, monkeypatch):
    """The default database of every test's jobs (in-process or train.py): its own, never outputs/lif.db."""
    url = f"sqlite:///{tmp_path}/lif.db"
    monkeypatch.setenv("LIF_TRACKING_URL", url)
    return url


@pytest.fixture
def make_config(tmp_path):
    """compose(overrides) -> config whose outputs go to a fresh temporary directory."""

    def make(*overrides: str):
        return compose_config(list(overrides), tmp_path)

    return make


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on localhost (Debian's postgresql package), for the session."""
    import glob
    import os
    import shutil
    import socket
    import subprocess
    import tempfile

    from support import require

    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    pg_ctl = binaries[-1] if binaries else shutil.which("pg_ctl")
    require(pg_ctl is not None, "PostgreSQL server binaries not found (apt-get install postgresql)", "LIF_REQUIRE_POSTGRES")
    initdb = os.path.join(os.path.dirname(pg_ctl), "initdb")
    folder = tempfile.mkdtemp(prefix="lif-postgres-")
    os.chmod(folder, 0o755)
    as_owner: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = os.path.join(folder, "data")
    subprocess.run([*as_owner, initdb, "-D", data, "-A", "trust", "-U", "lif", "--no-sync"], check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = os.path.join(folder, "server.log")
    subprocess.run([*as_owner, pg_ctl, "-D", data, "-o", options, "-l", log, "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://lif@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_owner, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
