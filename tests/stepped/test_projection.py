"""The event-driven projection (lif.stepped.projection) equals the dense product: currents and gradients."""

import pytest
import torch

from lif.stepped import compiled, projection
from lif.stepped.projection import (
    EVENT_DRIVEN_BELOW,
    EVENT_DRIVEN_MIN_OUTPUTS,
    WORD_SCAN_BELOW,
    EventDrivenProjection,
    compressed_rows,
    event_driven,
    nonzero_fraction,
    project,
    project_events,
    scatter_events,
)


real_raster_rows = compiled.raster_rows


def raster(kind: str, shape=(3, 40, 25), rate=0.05, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    spikes = torch.rand(shape, generator=generator) < rate
    if kind == "none":
        spikes[:] = False
    elif kind == "all":
        spikes[:] = True
    elif kind == "first_and_last":
        spikes[:] = False
        spikes[:, 0] = spikes[:, -1] = True
    return spikes


def dense_and_event_driven(inputs, weight, word_scan=True):
    """(currents, weight gradient, input gradient or None) by the dense product and by the kernel."""
    generator = torch.Generator().manual_seed(7)
    weigh = torch.randn(*inputs.shape[:-1], weight.shape[1], generator=generator, dtype=weight.dtype)
    results = []
    for run in ("dense", "event_driven"):
        w = weight.clone().requires_grad_()
        x = inputs.clone().requires_grad_() if inputs.is_floating_point() else inputs
        if run == "dense":
            out = x.to(w.dtype) @ w
        else:
            out = EventDrivenProjection.apply(x.reshape(-1, x.shape[-1]), w, word_scan).reshape(out.shape)
        wanted = [w] + ([x] if x.requires_grad else [])
        gradients = torch.autograd.grad((out * weigh).sum(), wanted)
        results.append((out, *gradients))
    return results


@pytest.mark.parametrize("word_scan", [True, False], ids=["word_scan", "entry_scan"])
@pytest.mark.parametrize("kind", ["random", "none", "all", "first_and_last"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_event_driven_projection_of_a_raster_equals_the_dense_product(kind, dtype, word_scan):
    weight = torch.randn(25, 11, generator=torch.Generator().manual_seed(1), dtype=dtype)
    (dense, dense_grad), (fast, fast_grad) = dense_and_event_driven(raster(kind), weight, word_scan)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(fast, dense, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(fast_grad, dense_grad, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("word_scan", [True, False], ids=["word_scan", "entry_scan"])
@pytest.mark.parametrize("shape", [(3, 40, 25), (2, 7, 5), (1, 1, 3), (4, 9, 64), (2, 6, 100), (2, 5, 301)], ids=str)
@pytest.mark.parametrize("kind", ["random", "none", "all", "first_and_last"])
def test_compressed_rows_list_every_spike_of_a_raster_in_order(kind, shape, word_scan):
    # the word scan reads eight entries at a time; sizes that are not a multiple of 8 leave a tail,
    # and rows of 100 and 301 start and end inside words
    spikes = raster(kind, shape=shape, rate=0.2).reshape(-1, shape[-1])
    row_start, columns, values = compressed_rows(spikes, torch.float32, word_scan)
    rows, expected_columns = torch.nonzero(spikes, as_tuple=True)
    torch.testing.assert_close(columns, expected_columns)
    torch.testing.assert_close(row_start, torch.cat([torch.zeros(1, dtype=torch.int64), spikes.sum(dim=1).cumsum(0)]))
    torch.testing.assert_close(values, torch.ones(len(rows)))
    numbers = spikes.double() * torch.arange(1.0, spikes.shape[1] + 1, dtype=torch.float64)
    number_rows = compressed_rows(numbers, torch.float64)
    torch.testing.assert_close(number_rows[:2], (row_start, columns))
    torch.testing.assert_close(number_rows[2], numbers[rows, expected_columns])


def test_event_driven_projection_of_a_transposed_raster_with_a_tail_equals_the_dense_product():
    spikes = raster("random", shape=(3, 13, 7), rate=0.3).transpose(1, 2)  # not contiguous; 273 entries
    weight = torch.randn(13, 5, dtype=torch.float64)
    (dense, dense_grad), (fast, fast_grad) = dense_and_event_driven(spikes, weight)
    torch.testing.assert_close(fast, dense)
    torch.testing.assert_close(fast_grad, dense_grad)


def test_event_driven_projection_of_dropped_out_spikes_equals_the_dense_product():
    # hidden spikes after dropout: 0, or 1/(1-p); the gradient also flows back to the spikes
    spikes = raster("random", rate=0.2).double() * torch.nn.functional.dropout(torch.ones(3, 40, 25, dtype=torch.float64), 0.5)
    weight = torch.randn(25, 6, dtype=torch.float64)
    (dense, dense_w, dense_x), (fast, fast_w, fast_x) = dense_and_event_driven(spikes, weight)
    assert set(spikes.unique().tolist()) == {0.0, 2.0}
    torch.testing.assert_close(fast, dense)
    torch.testing.assert_close(fast_w, dense_w)
    torch.testing.assert_close(fast_x, dense_x)


def test_project_takes_the_event_driven_path_for_sparse_spikes_and_the_product_otherwise(monkeypatch):
    weight = torch.randn(25, EVENT_DRIVEN_MIN_OUTPUTS)
    sparse, dense = raster("random", rate=0.01), raster("random", rate=0.5)
    word_scans = []
    monkeypatch.setattr(projection.compiled, "raster_rows", lambda *args: word_scans.append(1) or real_raster_rows(*args))
    for rate in (0.01, 0.07):  # the word scan below WORD_SCAN_BELOW, each entry read above
        inputs = raster("random", shape=(8, 100, 25), rate=rate)
        torch.testing.assert_close(project(inputs, weight), inputs.float() @ weight)
    assert word_scans == [1] and 0.01 < WORD_SCAN_BELOW < 0.07
    assert event_driven(sparse, weight) and not event_driven(dense, weight)
    assert not event_driven(sparse.double(), weight)  # a dtype the kernel does not take with these weights
    assert not event_driven(sparse, weight[:, :3])  # too few outputs to pay for finding the spikes
    calls = []
    monkeypatch.setattr(projection.EventDrivenProjection, "apply", lambda *args: calls.append(1) or args[0].float() @ args[1])
    for inputs in (sparse, dense):
        torch.testing.assert_close(project(inputs, weight), inputs.float() @ weight)
    assert len(calls) == 1
    assert 0 < EVENT_DRIVEN_BELOW < 1


@pytest.mark.parametrize("path", [project_events, scatter_events], ids=["compiled", "tensor"])
def test_projection_of_input_events_equals_a_sum_written_out(path):
    # events: input i's s-th spike in pattern b enters at step[b, i, s] with factor value[b, i, s] (0: none)
    generator = torch.Generator().manual_seed(2)
    step = torch.randint(0, 30, (4, 6, 2), generator=generator)
    step[0, 0] = torch.tensor([0, 29])  # the first and the last step
    value = torch.rand(4, 6, 2, generator=generator, dtype=torch.float64)
    value[1, 2, 1] = 0.0  # no spike
    weight = torch.randn(6, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    factors = value.clone().requires_grad_()
    expected = torch.zeros(4, 30, 5, dtype=torch.float64)
    for b, i, s in torch.cartesian_prod(torch.arange(4), torch.arange(6), torch.arange(2)).tolist():
        expected[b, step[b, i, s]] += factors[b, i, s] * weight[i]
    weigh = torch.randn(4, 30, 5, generator=generator, dtype=torch.float64)
    expected_gradients = torch.autograd.grad((expected * weigh).sum(), [weight, factors])
    got = path(step, factors, weight, 30)
    torch.testing.assert_close(got, expected)
    gradients = torch.autograd.grad((got * weigh).sum(), [weight, factors])
    for gradient, expected_gradient in zip(gradients, expected_gradients):
        torch.testing.assert_close(gradient, expected_gradient)


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32, torch.bfloat16], ids=str)
def test_nonzero_fraction_counts_small_inputs_and_estimates_large_ones(dtype):
    small = raster("random", shape=(3, 40, 25), rate=0.05).to(dtype)  # 120 rows: all counted
    assert nonzero_fraction(small) == pytest.approx(int(torch.count_nonzero(small)) / small.numel(), abs=1e-15)
    every_row_alike = torch.zeros(20000, 25, dtype=dtype)
    every_row_alike[:, 3:6] = 1  # 3 of 25 in every row: any sample of rows counts 12 %
    assert nonzero_fraction(every_row_alike) == pytest.approx(3 / 25)
    noisy = torch.rand(20000, 25, generator=torch.Generator().manual_seed(3)) < 0.02
    assert nonzero_fraction(noisy.to(dtype)) == pytest.approx(0.02, rel=0.15)  # about 512 nonzero in 1024 rows
