"""The plotting callback: every figure as a PNG of the expected size, in W&B and in the database."""

import struct

import pytest
from sqlmodel import Session, select

from lif.app import train
from lif.plots import DPI, FIGURE_SIZE
from lif.tracking import Artifact, connect

COMMON = {"learning_curves", "per_label_accuracy", "weights"}
NAMES = {"voltage_traces", "input_rasters"} | COMMON
NETWORK = {"layer_rasters", "membrane_traces", "firing_rates"} | COMMON


def png_size(path):
    """(width, height) from a PNG's header, checking that it is one."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize(
    "extra, names",
    [([], NAMES), (["encoder=rate", "data.num_afferents=30"], NAMES),
     (["model=network", "model.hidden=[12,6]", "model.output=spiking", "env.T=60"], NETWORK)],
    ids=["spike_times", "raster", "network"],
)
def test_every_plot_is_written_logged_and_recorded(make_config, tmp_path, extra, names):
    url = f"sqlite:///{tmp_path}/lif.db"
    cfg = make_config(
        "data.num_samples=40", "data.num_afferents=20", "data.val_fraction=0.25", "trainer.max_epochs=4",
        "callbacks.plots.every_n_epochs=2", f"tracking.url={url}", "trainer.enable_progress_bar=false", *extra,
    )
    train(cfg)
    folder = tmp_path / "plots"
    expected = {f"{name}{suffix}.png" for name in names for suffix in ("", "_epoch001", "_epoch003")}
    assert {path.name for path in folder.glob("*.png")} == expected
    for path in folder.glob("*.png"):
        assert png_size(path) == (FIGURE_SIZE[0] * DPI, FIGURE_SIZE[1] * DPI)
        assert path.stat().st_size > 5_000  # drawn, not blank
    with Session(connect(url)) as session:
        recorded = {row.path for row in session.exec(select(Artifact).where(Artifact.kind == "plot"))}
    assert recorded == {str(folder / name) for name in expected}
    images = list((tmp_path / "wandb").glob("offline-run-*/files/media/images/plots/*.png"))
    assert {image.name.split("_")[0] for image in images} >= {name.split("_")[0] for name in names}
