"""Operations per simulation step of W2, ours against the hand-written reference.

Counts the ATen operations each implementation dispatches per step (a
``TorchDispatchMode`` sees every operator call that reaches a kernel, views
included), and the elements they write, for the W2 network of
``stdp_dense.py`` (784 Poisson inputs -> 400 LIF, pair STDP applied every
step) at each bound and batch size::

    .venv/bin/python benchmarks/op_count.py [--steps 100] [--batches 1 16]
        [--bounds clamp soft none] [--list]

Prints, per cell, the operations per step (all, and those that write at
least a weight's worth of elements, "weight-sized"), the elements written
per step, and with ``--list`` the operations of one step in order, ours and
the reference side by side in counts by name. The counts are deterministic
(same seed, same inputs); they say where the time of the eager step goes
when the tensors are small (per-operation dispatch) and when they are large
(weight-sized passes).
"""

from __future__ import annotations

import argparse
from collections import Counter

import torch
from stdp_dense import BOUNDS, INPUT_P, N_IN, N_OUT, WEIGHT_SCALE, ours, reference
from torch.utils._python_dispatch import TorchDispatchMode

_IGNORED = {"aten.detach.default", "aten._local_scalar_dense.default"}


class _Count(TorchDispatchMode):
    """Counts operator calls by name and the elements of the tensors they return."""

    def __init__(self) -> None:
        super().__init__()
        self.names: Counter[str] = Counter()
        self.written = 0
        self.large = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = str(func)
        if name not in _IGNORED:
            self.names[name] += 1
            tensors = out if isinstance(out, tuple | list) else (out,)
            if func._schema.is_mutable and "index" in name:
                # index_copy_ / index_add_ / index_put_: only the source's elements are written.
                tensors = [a for a in args[1:] if isinstance(a, torch.Tensor)][-1:]
            elif any(
                r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns
            ):
                tensors = ()  # a view: nothing written
            elements = sum(
                t.numel()
                for t in tensors
                if isinstance(t, torch.Tensor) and t.layout == torch.strided
            )
            self.written += elements
            if elements >= N_IN * N_OUT:
                self.large += 1
        return out


def count(fn, inputs: torch.Tensor, weight: torch.Tensor, bound: str) -> _Count:
    """Run ``fn`` over ``inputs`` under the counter."""
    counter = _Count()
    with torch.no_grad(), counter:
        fn(inputs, weight, bound=bound)
    return counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--bounds", nargs="+", default=list(BOUNDS), choices=BOUNDS)
    parser.add_argument("--list", action="store_true", help="list the operations by name")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    weight = torch.rand(N_OUT, N_IN, generator=generator) * WEIGHT_SCALE
    steps = args.steps
    print(f"W2 operations per step ({steps} steps; weight-sized: writing >= {N_IN * N_OUT})")
    print(
        f"{'bound':>5} {'batch':>5}  {'ops ours/ref':>13}  {'weight-sized':>13}  {'MB written':>14}"
    )
    for batch in args.batches:
        inputs = (torch.rand(steps, batch, N_IN, generator=generator) < INPUT_P).float()
        for bound in args.bounds:
            mine = count(ours, inputs, weight, bound)
            ref = count(reference, inputs, weight, bound)
            ops = (sum(mine.names.values()) / steps, sum(ref.names.values()) / steps)
            big = (mine.large / steps, ref.large / steps)
            mb = (mine.written * 4 / steps / 2**20, ref.written * 4 / steps / 2**20)
            print(
                f"{bound:>5} {batch:>5}  {ops[0]:6.1f}/{ops[1]:<6.1f}  {big[0]:6.2f}/{big[1]:<6.2f}"
                f"  {mb[0]:6.2f}/{mb[1]:<6.2f}",
                flush=True,
            )
            if args.list:
                names = sorted(set(mine.names) | set(ref.names), key=lambda n: -mine.names[n])
                for name in names:
                    print(
                        f"{'':>13}{name:<40} {mine.names[name] / steps:6.2f} "
                        f"{ref.names[name] / steps:6.2f}"
                    )


if __name__ == "__main__":
    main()
