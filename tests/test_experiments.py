"""The network experiments end to end (slow): they learn, and report test accuracy."""

import pytest

from lif.app import train

QUIET = ["trainer.enable_progress_bar=false", "logger=csv", "tracking=none", "callbacks.plots=null"]


@pytest.mark.slow
def test_yin_yang_learns_well_above_chance_in_a_few_epochs(make_config):
    cfg = make_config("experiment=yin_yang", "trainer.max_epochs=4", "data.train_size=1500", "data.val_size=300",
                      "data.test_size=300", *QUIET)
    metrics = train(cfg)
    assert metrics["test/acc"] > 0.8  # chance: 1/3; a linear readout of the inputs: ~64 %
    assert 0 < metrics["train/rate_layer_1"] < 0.5


@pytest.mark.slow
def test_randman_hidden_layer_beats_no_hidden_layer(make_config):
    common = ["experiment=randman", "trainer.max_epochs=5", "data.samples_per_class=80", *QUIET]
    with_hidden = train(make_config(*common))
    without = train(make_config(*common, "model.hidden=[]"))
    assert with_hidden["test/acc"] > without["test/acc"] + 0.1
    assert "train/rate_layer_1" in with_hidden and "train/rate_layer_1" not in without
