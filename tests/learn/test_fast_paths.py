"""The fast paths give what the plain ones give: allocation-free bounds, declared signs, sparse spikes."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from inferno_lightning.functional.bounding import (
    ClampBound,
    HardBound,
    PowerBound,
    SoftBound,
)
from inferno_lightning.learn import Accumulator

BOUNDS = [SoftBound(), HardBound(), ClampBound(), PowerBound(0.5)]


def _terms(signed: bool, shape=(7, 5)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    weight = torch.rand(shape, generator=generator) * 1.2 - 0.1  # some beyond the limits
    low = -0.5 if signed else 0.0
    potentiation = (torch.rand(shape, generator=generator) + low) * 0.1
    depression = (torch.rand(shape, generator=generator) + low) * 0.1
    return weight, potentiation, depression


@pytest.mark.parametrize("bound", BOUNDS, ids=repr)
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("present", ["both", "potentiation", "depression"])
@pytest.mark.parametrize("limits", [(0.0, 1.0), (None, 1.0), (0.0, None)])
@pytest.mark.parametrize("shape", [(7, 5), (64, 129)], ids=["small", "vectorised"])
def test_in_place_bound_is_bit_identical(bound, signed, present, limits, shape) -> None:
    weight, potentiation, depression = _terms(signed, shape)
    if present == "potentiation":
        depression = None
    elif present == "depression":
        potentiation = None
    w_min, w_max = limits
    expected = bound(weight, potentiation, depression, w_min, w_max)
    out = (torch.empty_like(weight), torch.empty_like(weight))
    kept = weight.clone()
    got = bound(weight, potentiation, depression, w_min, w_max, out=out, nonnegative=not signed)
    fused = isinstance(bound, SoftBound) and w_min == 0.0
    if fused:
        # w - w D in one fused pass (addcmul): within one rounding of the two-pass form.
        torch.testing.assert_close(got, expected, rtol=0, atol=4 * torch.finfo(torch.float32).eps)
    else:
        assert torch.equal(got, expected)
    assert torch.equal(weight, kept)


def test_accumulator_copies_a_callers_tensor_and_takes_over_its_own_batch_mean() -> None:
    weight = torch.nn.Parameter(torch.full((3, 4), 0.5))
    accumulator = Accumulator(weight, bound="soft", w_min=0.0, w_max=1.0)
    kept = torch.full((3, 4), 0.1)
    accumulator.accumulate(kept, None)
    kept.add_(1.0)  # the caller may keep changing its tensor
    assert torch.allclose(accumulator.pending().potentiation, torch.full((3, 4), 0.1))
    with pytest.raises(TypeError, match="owned"):
        accumulator.accumulate(kept, None, owned=True)  # the hint is gone: derived inside
    accumulator.clear()
    per_sample = torch.full((2, 3, 4), 0.3)
    accumulator.accumulate(per_sample, None, batched=True)
    per_sample.add_(1.0)  # the batch mean is a new tensor: unaffected
    assert torch.allclose(accumulator.pending().potentiation, torch.full((3, 4), 0.3))


def test_apply_every_step_matches_formula_and_reuses_work_tensors() -> None:
    weight = torch.nn.Parameter(torch.full((3, 4), 0.5))
    accumulator = Accumulator(weight, bound="soft", w_min=0.0, w_max=1.0)
    accumulator.accumulate(torch.full((3, 4), 0.2), torch.full((3, 4), 0.1))
    accumulator.step()
    # 0.5 + 0.2 * (1 - 0.5) - 0.1 * (0.5 - 0) = 0.55
    assert torch.allclose(weight, torch.full((3, 4), 0.55))
    work = accumulator._work
    accumulator.accumulate(torch.full((3, 4), 0.2), None)
    accumulator.step()
    assert accumulator._work is work
    assert accumulator.__getstate__()["_work"] is None


def test_large_finite_terms_whose_sum_overflows_are_accepted() -> None:
    # The quick finiteness check (a sum) overflows here; the exact check must accept it.
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    accumulator = Accumulator(weight, bound="clamp")
    big = torch.full((2, 2), 3.0e38)
    assert accumulator.step((big, None))
    assert torch.equal(weight, big)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_term_still_named_and_weight_unchanged(bad) -> None:
    weight = torch.nn.Parameter(torch.full((2, 3), 0.5))
    accumulator = Accumulator(weight, bound="soft", w_min=0.0, w_max=1.0)
    depression = torch.zeros(2, 3)
    depression[1, 2] = bad
    with pytest.raises(ValueError, match="depression .* must be finite"):
        accumulator.step((torch.full((2, 3), 0.1), depression))
    assert torch.equal(weight, torch.full((2, 3), 0.5))


def _soft_applied(potentiation, depression, **config) -> torch.Tensor:
    weight = torch.nn.Parameter(torch.full(potentiation.shape[-2:], 0.2))
    accumulator = Accumulator(weight, bound="soft", w_min=0.0, w_max=1.0, **config)
    accumulator.accumulate(potentiation, depression, batched=potentiation.dim() == 3)
    accumulator.step()
    return weight.detach().clone()


def test_measured_signs_bound_each_push_by_its_own_limit() -> None:
    _, potentiation, depression = _terms(signed=False, shape=(16, 33))
    # 0.2 + P (1 - 0.2) - D (0.2 - 0), worked by hand
    torch.testing.assert_close(
        _soft_applied(potentiation, depression), 0.2 + 0.8 * potentiation - 0.2 * depression
    )
    _, potentiation, depression = _terms(signed=True, shape=(4, 6))
    # Signed terms: up = P+ + D-, scaled by 1 - w; down = P- + D+, scaled by w - 0.
    up = potentiation.clamp(min=0) + (-depression).clamp(min=0)
    down = (-potentiation).clamp(min=0) + depression.clamp(min=0)
    expected = 0.2 + 0.8 * up - 0.2 * down
    torch.testing.assert_close(_soft_applied(potentiation, depression), expected)
    config = {"batch_reduction": lambda x: x[0], "rank_reduction": "mean"}
    batched = _soft_applied(potentiation.unsqueeze(0), depression.unsqueeze(0), **config)
    torch.testing.assert_close(batched, expected)


def test_a_nan_in_a_term_is_named_and_the_weight_unchanged() -> None:
    weight = torch.nn.Parameter(torch.full((2, 3), 0.5))
    accumulator = Accumulator(weight, bound="soft", w_min=0.0, w_max=1.0)
    potentiation = torch.full((2, 3), 0.1)
    potentiation[0, 1] = float("nan")
    accumulator.accumulate(potentiation, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="potentiation .* must be finite"):
        accumulator.step()
    assert torch.equal(weight, torch.full((2, 3), 0.5))
    assert accumulator.steps == 1  # a failed update keeps what is pending


def test_correlations_know_their_signs_from_spikes_and_rates() -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense

    connection = LinearDense(6, 4, synapse=DeltaCurrent(6, 1.0))
    post = torch.tensor([[True, False, False, True]])
    pre = torch.tensor([[False, True, False, False, True, False]])
    post_trace, pre_trace = torch.rand(1, 4), torch.rand(1, 6)
    with torch.no_grad():
        assert connection.correlation(post, pre_trace * 1e-2, "mean").nonnegative
        assert connection.correlation(post_trace * 1e-3, pre, "mean").nonnegative
        # An anti-Hebbian rate makes the factor, hence the product, negative.
        assert not connection.correlation(post_trace * -1e-3, pre, "mean").nonnegative
        # Float factors are read (on CPU): non-negative ones are known to be.
        assert connection.correlation(post.float() * 0.5, pre_trace, "sum").nonnegative
        assert not connection.correlation(post.float() - 0.5, pre_trace, "sum").nonnegative


class _OpNames(TorchDispatchMode):
    """The names of the ATen operations run inside the block."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def _stdp_terms(connection, generator, batch, rate, lr_pre=1e-3):
    n_out, n_in = connection.weight.shape
    post = torch.rand(batch, n_out, generator=generator) < rate
    pre = torch.rand(batch, n_in, generator=generator) < rate
    post_trace = torch.rand(batch, n_out, generator=generator) * 2
    pre_trace = torch.rand(batch, n_in, generator=generator) * 2
    potentiation = connection.correlation(post, pre_trace * 1e-2, "mean")
    depression = connection.correlation(post_trace * lr_pre, pre, "mean")
    return (post, pre), potentiation, depression


@pytest.mark.parametrize("bound", ["clamp", "soft", "hard", "power", "none"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("lr_pre", [1e-3, -1e-3], ids=["hebbian", "anti"])
def test_a_step_applied_alone_touches_only_spiking_rows_and_columns(bound, batch, lr_pre) -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense

    generator = torch.Generator().manual_seed(5)
    config = {"none": {}, "power": {"bound": PowerBound(0.5), "w_min": 0.0, "w_max": 1.0}}.get(
        bound, {"bound": bound, "w_min": 0.0, "w_max": 1.0}
    )
    connection = LinearDense(120, 100, synapse=DeltaCurrent(120, 1.0), weight_init=0.5)
    weight = connection.weight
    events = Accumulator(weight, **config)
    with torch.no_grad():
        for step in range(4):
            (post, pre), potentiation, depression = _stdp_terms(
                connection, generator, batch, 0.02, lr_pre
            )
            dense_terms = (potentiation.tensor(), depression.tensor())
            # What the dense path computes from the same weight and terms.
            expected = Accumulator(weight.detach().clone(), **config)
            expected.step(dense_terms)
            events.accumulate(potentiation, depression)
            prepared = events.prepare()
            if step == 0 and bound == "clamp":
                assert prepared.value is not None  # the first clamp is dense (limits unknown)
            elif step > 0 and bound in ("clamp", "none"):
                # Once the weight is as this Accumulator wrote it (finite, within its limits), a
                # clamped step is added where it lands (the products at their spikes, into the
                # weight), then clamped.
                assert prepared.value is None and prepared.rows is None
                assert prepared.added == (potentiation, depression)
            else:
                assert prepared.value is None
                assert torch.equal(prepared.rows, post.any(0).nonzero().flatten())
                assert torch.equal(prepared.cols, pre.any(0).nonzero().flatten())
            before = weight.detach().clone()
            events.commit(prepared)
            torch.testing.assert_close(weight, expected.parameter, rtol=0, atol=1e-6)
            untouched = ~(post.any(0)[:, None] | pre.any(0)[None, :])
            assert torch.equal(weight[untouched], before[untouched])


def test_events_fall_back_to_dense_where_they_would_not_be_exact() -> None:
    from inferno_lightning.learn import Normalize
    from inferno_lightning.neural import DeltaCurrent, LinearDense

    generator = torch.Generator().manual_seed(6)
    connection = LinearDense(60, 50, synapse=DeltaCurrent(60, 1.0), weight_init=0.5)
    weight = connection.weight
    with torch.no_grad():
        clamp = Accumulator(weight, bound="clamp", w_min=0.0, w_max=1.0)
        _, potentiation, depression = _stdp_terms(connection, generator, 1, 0.03)
        clamp.step((potentiation.tensor(), depression.tensor()))  # a dense write: within limits
        _, potentiation, depression = _stdp_terms(connection, generator, 1, 0.03)
        clamp.accumulate(potentiation, depression)
        assert clamp.prepare().value is None
        clamp.clear()
        weight[0, 0] = 2.0  # written by someone else: the weight may be out of its limits
        clamp.accumulate(potentiation, depression)
        prepared = clamp.prepare()
        assert prepared.value is not None and prepared.value[0, 0] == 1.0
        clamp.clear()
        # Two steps, a constraint, dense spikes: the dense path.
        for config, steps, rate in (
            ({}, 2, 0.03),
            ({"constraints": [Normalize(10.0)]}, 1, 0.03),
            ({}, 1, 0.9),
        ):
            accumulator = Accumulator(weight, **config)
            for _ in range(steps):
                _, potentiation, depression = _stdp_terms(connection, generator, 1, rate)
                accumulator.accumulate(potentiation, depression)
            assert accumulator.prepare().value is not None


def test_a_held_correlation_does_not_follow_its_callers_tensors() -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense

    connection = LinearDense(6, 4, synapse=DeltaCurrent(6, 1.0))
    post = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    pre = torch.rand(1, 6)
    expected = post.t() @ pre
    accumulator = Accumulator(connection.weight)
    with torch.no_grad():
        accumulator.accumulate(connection.correlation(post, pre, "sum"), None)
        post.zero_()
        pre.zero_()
    torch.testing.assert_close(accumulator.pending().potentiation, expected)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("rate", [0.0, 0.03, 0.5], ids=["silent", "sparse", "dense"])
@pytest.mark.parametrize("kind", ["dense", "lateral"])
def test_boolean_spikes_correlate_like_their_float_values(reduction, rate, kind) -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense, LinearLateral

    generator = torch.Generator().manual_seed(1)
    batch, n_in, n_out = 16, 40, 40
    if kind == "dense":
        connection = LinearDense(n_in, n_out, synapse=DeltaCurrent(n_in, 1.0))
    else:
        connection = LinearLateral(n_out, synapse=DeltaCurrent(n_out, 1.0))
    spikes = torch.rand(batch, n_out, generator=generator) < rate
    trace = torch.rand(batch, n_in, generator=generator)
    with torch.no_grad():
        got = connection.correlate(spikes, trace, reduction)
        expected = connection.correlate(spikes.float(), trace, reduction)
    # The same sums of the same products (the sparse path adds rows in another order).
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)
    by_hand = spikes.float().t() @ trace / (batch if reduction == "mean" else 1)
    if kind == "lateral":
        by_hand.fill_diagonal_(0.0)
    torch.testing.assert_close(got, by_hand, rtol=1e-6, atol=1e-7)
    if rate == 0.0:
        assert torch.equal(got, torch.zeros(n_out, n_in))


def test_trace_of_boolean_spikes_equals_trace_of_float_spikes() -> None:
    from inferno_lightning.observe import CumulativeTraceReducer, NearestTraceReducer

    generator = torch.Generator().manual_seed(2)
    spikes = torch.rand(20, 3, 5, generator=generator) < 0.3
    for kind in (CumulativeTraceReducer, NearestTraceReducer):
        from_bool, from_float = kind(1.0, 10.0), kind(1.0, 10.0)
        for step in spikes:
            from_bool(step)
            from_float(step.float())
        assert torch.equal(from_bool.peek(), from_float.peek())
        assert from_bool.peek().max() > 1.0 or kind is NearestTraceReducer


def _connections():
    from inferno_lightning.neural import (
        Conv2d,
        DeltaCurrent,
        LinearDense,
        LinearDirect,
        LinearLateral,
    )

    return {
        "dense": (LinearDense(12, 10, synapse=DeltaCurrent(12, 1.0)), (12,), (10,)),
        "lateral": (LinearLateral(10, synapse=DeltaCurrent(10, 1.0)), (10,), (10,)),
        "direct": (LinearDirect(10, synapse=DeltaCurrent(10, 1.0)), (10,), (10,)),
        "conv": (
            Conv2d((1, 6, 6), 2, 3, synapse=DeltaCurrent((1, 6, 6), 1.0)),
            (1, 6, 6),
            (2, 4, 4),
        ),
    }


@pytest.mark.parametrize("kind", ["dense", "lateral", "direct", "conv"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("spikes", ["bool", "float"])
def test_correlation_written_and_added_in_place_equals_correlate(
    kind, reduction, spikes, device
) -> None:
    connection, in_shape, out_shape = _connections()[kind]
    connection.to(device)
    generator = torch.Generator().manual_seed(3)
    batch = 5
    post = torch.rand(batch, *out_shape, generator=generator) < 0.05
    post = (post if spikes == "bool" else post.float() * 0.5).to(device)
    pre = torch.rand(batch, *in_shape, generator=generator).to(device)
    with torch.no_grad():
        expected = connection.correlate(post, pre, reduction)
        correlation = connection.correlation(post, pre, reduction)
        assert correlation.shape == expected.shape and correlation.dtype == expected.dtype
        torch.testing.assert_close(correlation.tensor(), expected)
        out = torch.full_like(expected, 7.0)
        written = correlation.write_(out)
        assert written.data_ptr() == out.data_ptr()
        torch.testing.assert_close(out, expected)
        correlation.add_to_(out)
        torch.testing.assert_close(out, 2 * expected)
    with pytest.raises(ValueError, match="batch_reduction"):
        connection.correlation(post, pre, "none")


def test_accumulator_sums_correlations_in_its_own_buffer(device) -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense

    connection = LinearDense(12, 10, synapse=DeltaCurrent(12, 1.0)).to(device)
    generator = torch.Generator().manual_seed(4)
    steps = [
        (
            (torch.rand(3, 10, generator=generator) < 0.2).to(device),
            torch.rand(3, 12, generator=generator).to(device),
        )
        for _ in range(4)
    ]
    weight = connection.weight
    with_tensors = Accumulator(weight)
    with_correlations = Accumulator(weight)
    with torch.no_grad():
        for post, pre in steps:
            with_tensors.accumulate(connection.correlate(post, pre, "mean"), None)
            with_correlations.accumulate(connection.correlation(post, pre, "mean"), None)
    expected = sum(post.float().t() @ pre / 3 for post, pre in steps)
    torch.testing.assert_close(with_correlations.pending().potentiation, expected)
    torch.testing.assert_close(with_tensors.pending().potentiation, expected)
    # The running sum is allocated once and reused after a clear: nothing new per step.
    buffer = with_correlations._sums[0]
    with_correlations.clear()
    with torch.no_grad():
        for post, pre in steps:
            with_correlations.accumulate(connection.correlation(post, pre, "mean"), None)
    assert with_correlations._sums[0] is buffer
    torch.testing.assert_close(with_correlations.pending().potentiation, expected)
    # A callable time reduction keeps each step: the correlation is computed on its own.
    per_step = Accumulator(weight, time_reduction=lambda x: x.amax(0), rank_reduction="mean")
    with torch.no_grad():
        for post, pre in steps:
            per_step.accumulate(connection.correlation(post, pre, "sum"), None)
    torch.testing.assert_close(
        per_step.pending().potentiation,
        torch.stack([post.float().t() @ pre for post, pre in steps]).amax(0),
    )
    with pytest.raises(ValueError, match="batched=False"):
        per_step.accumulate(connection.correlation(post, pre, "sum"), None, batched=True)
    other = LinearDense(12, 9, synapse=DeltaCurrent(12, 1.0))
    with pytest.raises(ValueError, match="shape"):
        per_step.accumulate(other.correlation(post[:, :9], pre, "sum"), None)


@pytest.mark.parametrize("kind", ["dense", "lateral"])
@pytest.mark.parametrize("rate", [0.0, 0.01, 0.3], ids=["silent", "sparse", "dense"])
def test_spike_driven_forward_equals_the_dense_product(kind, rate) -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense, LinearLateral

    generator = torch.Generator().manual_seed(5)
    n = 200
    if kind == "dense":
        connection = LinearDense(n, 30, synapse=DeltaCurrent(n, 0.5), bias=0.25)
        weight = connection.weight
    else:
        connection = LinearLateral(n, synapse=DeltaCurrent(n, 0.5), bias=0.25)
        weight = connection.weight * (1 - torch.eye(n))
    spikes = (torch.rand(16, n, generator=generator) < rate).float()
    with torch.no_grad():
        got = connection(spikes)
    # DeltaCurrent at dt = 0.5 ms: 2 nA per spike; the forward is I W^T + b.
    expected = torch.nn.functional.linear(spikes * 2.0, weight.detach(), connection.bias)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-5)
    if rate == 0.0:
        assert torch.equal(got, torch.full_like(got, 0.25))
    # With gradients the dense product runs, and the gradient flows to the weight.
    connection.reset()
    out = connection(spikes)
    torch.testing.assert_close(out.detach(), expected, rtol=1e-6, atol=1e-5)
    if kind == "dense":
        out.sum().backward()
        # d(sum of outputs) / dW[o, i] = sum over the batch of I[b, i], for every o.
        column_sums = (spikes * 2.0).sum(0).expand_as(connection.weight)
        torch.testing.assert_close(connection.weight.grad, column_sums)


@pytest.mark.parametrize("limits", [(0.0, 1.0), (None, None)], ids=["clamp", "none"])
@pytest.mark.parametrize("present", ["both", "potentiation", "depression"])
def test_a_dense_clamped_step_is_computed_into_one_tensor_and_equals_the_formula(
    limits, present
) -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense

    connection = LinearDense(30, 20, synapse=DeltaCurrent(30, 1.0), weight_init=0.5)
    weight = connection.weight
    w_min, w_max = limits
    accumulator = Accumulator(weight, bound="clamp", w_min=w_min, w_max=w_max)
    generator = torch.Generator().manual_seed(8)
    # Dense spikes (half of them): no event-driven update; large traces: the clamp bites.
    post = torch.rand(8, 20, generator=generator) < 0.5
    pre = torch.rand(8, 30, generator=generator) < 0.5
    post_trace = torch.rand(8, 20, generator=generator) * 3
    pre_trace = torch.rand(8, 30, generator=generator) * 3
    use_p = present in ("both", "potentiation")
    use_d = present in ("both", "depression")
    with torch.no_grad():
        p_term = connection.correlation(post, pre_trace, "mean")
        d_term = connection.correlation(post_trace, pre, "mean")
        by_hand_p = post.float().t() @ pre_trace / 8
        by_hand_d = post_trace.t() @ pre.float() / 8
        change = (by_hand_p if use_p else 0) - (by_hand_d if use_d else 0)
        expected = weight + change
        if w_min is not None:
            expected = expected.clamp(w_min, w_max)
        accumulator.accumulate(p_term if use_p else None, d_term if use_d else None)
        prepared = accumulator.prepare()
        assert prepared.value is accumulator._work[0]  # computed in the work tensor
        accumulator.commit(prepared)
    torch.testing.assert_close(weight, expected, rtol=1e-6, atol=1e-6)
    if w_min is not None:  # the clamp did bite
        assert weight.min() == 0.0 if use_d else weight.max() == 1.0


@pytest.mark.parametrize("spiking", ["post", "pre"])
@pytest.mark.parametrize("batch", [1, 4])
def test_a_correlation_of_sparse_spikes_is_written_and_scaled_into_a_sum(spiking, batch) -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense

    connection = LinearDense(120, 100, synapse=DeltaCurrent(120, 1.0))
    generator = torch.Generator().manual_seed(9)
    spikes = torch.rand(batch, 100 if spiking == "post" else 120, generator=generator) < 0.02
    trace = torch.rand(batch, 120 if spiking == "post" else 100, generator=generator)
    post, pre = (spikes, trace) if spiking == "post" else (trace, spikes)
    by_hand = post.float().t() @ pre.float() / batch
    start = torch.rand(100, 120, generator=generator)
    with torch.no_grad():
        correlation = connection.correlation(post, pre, "mean")
        out = start.clone()
        with _OpNames() as ops:
            correlation.add_to_(out, alpha=-2.0)
        torch.testing.assert_close(out, start - 2.0 * by_hand)
        # Postsynaptic spikes: a sparse product (only their rows cost anything); presynaptic
        # spikes: an index_add_ at their columns, not a product into the whole weight.
        assert ("index_add_" in ops.names) == (spiking == "pre")
        assert ("addmm_" in ops.names) == (spiking == "post")
        # Rows (columns) without spikes keep their very values.
        touched = spikes.any(0)
        untouched = out[~touched] if spiking == "post" else out[:, ~touched]
        kept = start[~touched] if spiking == "post" else start[:, ~touched]
        assert torch.equal(untouched, kept)
        torch.testing.assert_close(correlation.write_(torch.full_like(start, 5.0)), by_hand)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("zero_diagonal", [False, True], ids=["dense", "lateral"])
def test_a_correlation_of_presynaptic_spikes_is_added_at_their_columns(
    batch, zero_diagonal
) -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense, LinearLateral

    generator = torch.Generator().manual_seed(11)
    if zero_diagonal:
        connection = LinearLateral(90, synapse=DeltaCurrent(90, 1.0))
    else:
        connection = LinearDense(120, 90, synapse=DeltaCurrent(120, 1.0))
    n_out, n_in = connection.weight.shape
    pre = torch.rand(batch, n_in, generator=generator) < 0.01  # few columns
    post_trace = torch.rand(batch, n_out, generator=generator)
    start = torch.rand(n_out, n_in, generator=generator)
    by_hand = post_trace.t() @ pre.float() / batch
    if zero_diagonal:
        by_hand.fill_diagonal_(0.0)
    with torch.no_grad(), _OpNames() as ops:
        term = connection.correlation(post_trace, pre, "mean")
        out = term.add_to_(start.clone(), alpha=-2.0)
    # Only the spiking columns are added to (one index_add_), no product of the whole weight.
    assert ("index_add_" in ops.names) != zero_diagonal
    assert "addmm_" in ops.names if zero_diagonal else "addmm_" not in ops.names
    torch.testing.assert_close(out, start - 2.0 * by_hand, rtol=0, atol=1e-6)
    # Columns of inputs that never spiked are the very same values.
    silent = ~pre.any(0)
    assert torch.equal(out[:, silent], start[:, silent])
    if zero_diagonal:  # the weight's own diagonal is kept, not zeroed
        assert torch.equal(out.diagonal(), start.diagonal())


def test_the_magnitude_of_a_correlation_bounds_its_largest_element() -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense
    from inferno_lightning.neural.base import Correlation

    generator = torch.Generator().manual_seed(12)
    connection = LinearDense(30, 20, synapse=DeltaCurrent(30, 1.0))
    post = torch.rand(4, 20, generator=generator) < 0.5
    pre_trace = torch.randn(4, 30, generator=generator) * 3
    for reduction, scale in (("sum", 1.0), ("mean", 0.25)):
        term = connection.correlation(post, pre_trace, reduction)
        largest = float(term.tensor().abs().max())
        # B max|post| max|pre|, divided by B for the mean: 4 * 1 * max|pre| * scale.
        assert term.magnitude() == pytest.approx(4 * scale * float(pre_trace.abs().max()))
        assert term.magnitude() >= largest
    bad = pre_trace.clone()
    bad[1, 2] = float("nan")
    assert math.isnan(connection.correlation(post, bad, "sum").magnitude())
    product = torch.tensor([[1.0, -5.0], [2.0, 0.5]])
    assert Correlation(product).magnitude() == 5.0


def test_a_clamped_step_is_added_in_place_only_where_nothing_can_overflow() -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense

    generator = torch.Generator().manual_seed(13)
    connection = LinearDense(60, 50, synapse=DeltaCurrent(60, 1.0), weight_init=0.5)
    weight = connection.weight
    accumulator = Accumulator(weight, bound="clamp", w_min=0.0, w_max=1.0)
    with torch.no_grad():
        # The first step: the weight was not written by this Accumulator, so it is checked.
        _, potentiation, depression = _stdp_terms(connection, generator, 2, 0.05)
        accumulator.accumulate(potentiation, depression)
        assert accumulator.prepare().added is None
        accumulator.clear()
        accumulator.step((potentiation.tensor(), depression.tensor()))
        # Now as it wrote it: added in place, and equal to the formula.
        _, potentiation, depression = _stdp_terms(connection, generator, 2, 0.05)
        expected = (weight + potentiation.tensor() - depression.tensor()).clamp(0.0, 1.0)
        accumulator.accumulate(potentiation, depression)
        prepared = accumulator.prepare()
        assert prepared.added == (potentiation, depression) and prepared.limits == (0.0, 1.0)
        accumulator.commit(prepared)
        torch.testing.assert_close(weight, expected, rtol=0, atol=1e-6)
        # A term too large to add without a possible overflow goes the checked way, which
        # names it; the weight is unchanged.
        post = torch.ones(1, 50, dtype=torch.bool)
        huge = connection.correlation(post, torch.full((1, 60), 3e38), "sum")
        before = weight.detach().clone()
        accumulator.accumulate(huge, huge)
        assert accumulator.prepare().added is None  # magnitude 3e38: the work-tensor path
        accumulator.clear()
        nan = torch.full((1, 60), float("nan"))
        accumulator.accumulate(connection.correlation(post, nan, "sum"), None)
        with pytest.raises(ValueError, match="potentiation"):
            accumulator.step()
        assert torch.equal(weight, before)
        accumulator.clear()  # a failed step keeps its terms
        # An outside write: no longer known to be within its limits or finite.
        weight[0, 0] = float("inf")
        _, potentiation, depression = _stdp_terms(connection, generator, 2, 0.05)
        accumulator.accumulate(potentiation, depression)
        assert accumulator.prepare().added is None


def test_a_soft_bounded_step_is_computed_into_the_weight_when_it_stays_within_its_limits() -> None:
    from inferno_lightning.neural import DeltaCurrent, LinearDense

    generator = torch.Generator().manual_seed(14)
    connection = LinearDense(60, 50, synapse=DeltaCurrent(60, 1.0), weight_init=0.5)
    weight = connection.weight
    accumulator = Accumulator(weight, bound="soft", w_min=0.0, w_max=1.0)
    reference = Accumulator(weight.detach().clone(), bound="soft", w_min=0.0, w_max=1.0)

    def terms(rate: float, lr_pre: float = 1e-3):
        # Dense spikes (half of them): not event-driven.
        return _stdp_terms(connection, generator, 4, rate, lr_pre)[1:]

    with torch.no_grad():
        potentiation, depression = terms(0.5)
        accumulator.accumulate(potentiation, depression)
        assert accumulator.prepare().added is None  # not written by this Accumulator yet
        accumulator.clear()
        accumulator.step((potentiation.tensor(), depression.tensor()))
        reference.step((potentiation.tensor(), depression.tensor()))
        for _ in range(3):
            potentiation, depression = terms(0.5)
            accumulator.accumulate(potentiation, depression)
            prepared = accumulator.prepare()
            assert prepared.soft and prepared.added == (potentiation, depression)
            accumulator.commit(prepared)
            # The work-tensor path computes the very same values.
            reference.step((potentiation.tensor(), depression.tensor()))
            assert torch.equal(weight, reference.parameter)
            assert weight.min() >= 0.0 and weight.max() <= 1.0
        # Not when a term may be negative (anti-Hebbian), nor when P + D may exceed 1.
        for potentiation, depression in (terms(0.5, -1e-3), (terms(0.5)[0], terms(0.5, 0.6)[1])):
            accumulator.accumulate(potentiation, depression)
            assert accumulator.prepare().added is None
            accumulator.clear()
        # Nor for a weight outside its limits (written by someone else, then checked once).
        weight[0, 0] = 1.5
        accumulator.step(tuple(t.tensor() for t in terms(0.5)))  # the work-tensor path
        potentiation, depression = terms(0.5)
        accumulator.accumulate(potentiation, depression)
        assert accumulator.prepare().added is None  # 1.5 > w_max: read and refused
        accumulator.clear()


def test_a_correlation_subclass_without_magnitude_is_bounded_from_its_product() -> None:
    """A Correlation written before magnitude() existed still works in the in-place path."""
    from inferno_lightning.neural.base import Correlation

    class Doubled(Correlation):
        """A lazy product that keeps its factor, not the product (no ``_product``)."""

        def __init__(self, factor: torch.Tensor) -> None:  # no super().__init__
            self.factor = factor

        @property
        def shape(self) -> torch.Size:
            return self.factor.shape

        @property
        def dtype(self) -> torch.dtype:
            return self.factor.dtype

        @property
        def device(self) -> torch.device:
            return self.factor.device

        def tensor(self) -> torch.Tensor:
            return self.factor * 2

        def write_(self, out: torch.Tensor) -> torch.Tensor:
            return torch.mul(self.factor, 2, out=out)

        def add_to_(self, out: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
            return out.add_(self.factor, alpha=2 * alpha)

    factor = torch.tensor([[0.25, -0.5], [0.125, 0.0]])
    assert Doubled(factor).magnitude() == 1.0
    weight = torch.nn.Parameter(torch.full((2, 2), 0.5))
    accumulator = Accumulator(weight, bound="clamp", w_min=0.0, w_max=1.0)
    accumulator.step((torch.zeros(2, 2), None))  # written once: now known finite
    accumulator.accumulate(Doubled(factor), None)
    prepared = accumulator.prepare()
    assert prepared.added is not None
    accumulator.commit(prepared)
    torch.testing.assert_close(weight.detach(), torch.tensor([[1.0, 0.0], [0.75, 0.5]]))
