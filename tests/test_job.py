import os

import pytest
from omegaconf import OmegaConf

from lif import job
from lif.job import experiment_name, finish_wandb, interrupting_signal, job_context
from lif.resolvers import wandb_tags


def test_tags_are_the_parameters_within_wandb_limits():
    overrides = ["seed=1", "hydra.run.dir=/tmp/x", "tracking.url=sqlite:///a/b.db", "+callbacks.x._target_=" + "a" * 80]
    tags = wandb_tags(overrides)
    assert tags[0] == "seed=1" and len(tags) == 2
    assert len(tags[1]) == 64


def test_experiment_name_outside_hydra(monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)  # earlier tests leave a job config behind
    assert experiment_name(OmegaConf.create({"experiment_name": "capacity", "task_name": "train"})) == "capacity"
    assert experiment_name(OmegaConf.create({"experiment_name": None, "task_name": "train"})) == "train"


def test_experiment_name_from_the_experiment_option(make_config):
    cfg = make_config("experiment=tempotron_seed")
    assert experiment_name(cfg) == "tempotron_seed"


def test_job_context_finishes_wandb_even_on_error(tmp_path, monkeypatch):
    import wandb

    monkeypatch.delenv("WANDB_MODE", raising=False)
    with pytest.raises(RuntimeError):
        with job_context():
            run = wandb.init(project="lif-test", dir=str(tmp_path))
            assert run.settings.mode == "offline"  # offline unless the user says otherwise
            raise RuntimeError("job failed")
    assert wandb.run is None
    finish_wandb(failed=False)  # nothing active: a no-op


def test_interrupts_are_recognised_however_they_surface():
    import signal

    from lightning.pytorch.utilities.exceptions import SIGTERMException

    def raised(make):
        try:
            make()
        except BaseException as error:  # noqa: BLE001
            return error

    def wrapped_by_numba():  # a signal handled inside compiled code: SystemErrors raised from it
        try:
            raise SIGTERMException(143)
        except SIGTERMException as error:
            raise SystemError("returned a result with an exception set") from error

    def lightning_exit():  # Lightning turns a KeyboardInterrupt into sys.exit(1)
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemExit(1)

    assert interrupting_signal(raised(wrapped_by_numba)) == signal.SIGTERM
    assert interrupting_signal(raised(lightning_exit)) == signal.SIGINT
    assert interrupting_signal(KeyboardInterrupt()) == signal.SIGINT
    assert interrupting_signal(raised(lambda: 1 / 0)) is None
    assert interrupting_signal(SystemExit(1)) is None


def test_a_job_leaves_the_w_and_b_service_it_inherited_but_keeps_its_own(monkeypatch):
    monkeypatch.setattr(job, "INHERITED_WANDB_SERVICE", "parent-token")
    monkeypatch.setenv("WANDB_SERVICE", "parent-token")
    with job.job_context():
        assert "WANDB_SERVICE" not in os.environ  # the job's first W&B run starts a service of its own
        os.environ["WANDB_SERVICE"] = "own-token"  # as wandb.init then does
    with job.job_context():  # the next job of a single-process multirun shares it
        assert os.environ["WANDB_SERVICE"] == "own-token"
