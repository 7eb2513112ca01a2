"""Each surrogate: the exact Heaviside forward, its formula backward, and snnTorch's where it has the same one."""

import math

import pytest
import torch

from lif.errors import ConfigError
from lif.stepped.surrogates import Atan, FastSigmoid, Sigmoid, StraightThrough, Triangle

X = torch.linspace(-2.0, 2.0, 401, dtype=torch.float64)

FORMULAS = [
    (FastSigmoid(slope=25.0), lambda x: 1 / (1 + 25 * x.abs()) ** 2),
    (FastSigmoid(slope=4.0), lambda x: 1 / (1 + 4 * x.abs()) ** 2),
    (Atan(alpha=2.0), lambda x: 1 / (1 + (math.pi * x) ** 2)),
    (Atan(alpha=5.0), lambda x: 2.5 / (1 + (2.5 * math.pi * x) ** 2)),
    (Sigmoid(slope=25.0), lambda x: 25 * torch.exp(-25 * x) / (1 + torch.exp(-25 * x)) ** 2),
    (Triangle(width=0.5), lambda x: torch.where(x.abs() < 0.5, 1 - 2 * x.abs(), torch.zeros_like(x))),
    (StraightThrough(), lambda x: torch.ones_like(x)),
]


@pytest.mark.parametrize("surrogate, formula", FORMULAS, ids=[repr(s) for s, _ in FORMULAS])
def test_forward_is_the_heaviside_step_and_backward_the_formula(surrogate, formula):
    x = X.clone().requires_grad_()
    spikes = surrogate(x)
    assert spikes.tolist() == (X >= 0).double().tolist()  # a spike exactly at the threshold too
    upstream = torch.linspace(0.5, 1.5, len(X), dtype=torch.float64)
    (spikes * upstream).sum().backward()
    torch.testing.assert_close(x.grad, upstream * formula(X))


def test_backward_equals_snntorch_for_the_shared_surrogates():
    from snntorch import surrogate as snn

    x = X[X != 0]  # snnTorch's step is x > 0, ours x >= 0: they differ only at 0
    pairs = [(FastSigmoid(25.0), snn.fast_sigmoid(slope=25)), (Atan(2.0), snn.atan(alpha=2.0)),
             (Sigmoid(25.0), snn.sigmoid(slope=25)), (StraightThrough(), snn.straight_through_estimator())]
    for ours, theirs in pairs:
        mine, other = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours(mine).sum().backward()
        theirs(other).sum().backward()
        torch.testing.assert_close(mine.grad, other.grad, msg=repr(ours))
        assert torch.equal(ours(x), theirs(x).to(x.dtype))


@pytest.mark.parametrize("make, field", [(lambda: FastSigmoid(0), "slope"), (lambda: Atan(-1), "alpha"),
                                         (lambda: Sigmoid(0), "slope"), (lambda: Triangle(0), "width")])
def test_bad_settings_name_the_field(make, field):
    with pytest.raises(ConfigError) as raised:
        make()
    assert raised.value.field == field
