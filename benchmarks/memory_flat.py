"""Memory against time steps: peak resident memory of W2 and W4 must not grow with T.

    .venv/bin/python benchmarks/memory_flat.py [--steps 250 1000 4000] [--batch 16]

Each (workload, T) runs in a fresh subprocess, which reports its peak
resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after the
run, and the bytes of every tensor reachable from the model at the end. A
fresh process per T is what makes the peak meaningful: in one process the
allocator keeps freed memory and the peak of an earlier run hides a later
one. ``tracemalloc`` does not see tensor storage (allocated by C++), which
is why RSS is used; RSS also counts the interpreter and libraries (a few
hundred MB, the same for every T), so what matters is the difference
between T.

The inputs are drawn step by step inside the loop (Poisson spikes at the
paper's rates), so nothing T-sized is built on purpose: a growth would be
state the network, monitors, rules or accumulators keep per step.

* W2: 784 Poisson inputs -> 400 LIF, pair STDP, soft bounds, applied every step.
* W4: DiehlCook2015 (400 neurons), its own ``step`` + ``learning_step`` per
  time step, one update per 250 steps (a presentation). ``respond`` itself
  also builds the encoded input train, ``T x batch x 784`` booleans (the
  presentation the configuration asks for), which is not part of this
  measurement; it counts the output spikes as it goes
  (``simulate(..., reduce="sum")``), keeping no ``T``-sized output.

Measured (quiet 2-core CPU, batch 16, 1 thread, 400 neurons)::

    workload      T  peak RSS MiB  tensor MiB
          W2    250         584.9        1.42
          W2   1000         584.8        1.42
          W2   4000         584.8        1.42
          W4    250         822.4        1.88
          W4   1000         824.6        1.88
          W4   4000         824.9        1.88

Flat: the peak moves by at most 3 MiB (allocator noise) over a 16-fold range
of T, and the tensors the model holds at the end do not change at all.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import warnings

import torch

N_IN, N_OUT = 784, 400


def tensor_bytes(module: torch.nn.Module) -> int:
    """Bytes of the distinct tensor storages reachable from ``module``'s attributes (one level)."""
    seen: dict[int, int] = {}
    for sub in module.modules():
        for value in vars(sub).values():
            values = value.values() if isinstance(value, dict) else [value]
            for item in values:
                if isinstance(item, torch.Tensor):
                    storage = item.untyped_storage()
                    seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def run_w2(steps: int, batch: int) -> dict[str, int]:
    from inferno_lightning.learn import STDP, updater_for
    from inferno_lightning.neural import LIF, DeltaCurrent, LinearDense, Serial

    generator = torch.Generator().manual_seed(0)
    connection = LinearDense(
        N_IN, N_OUT, synapse=DeltaCurrent(N_IN, 1.0), weight_init=torch.rand(N_OUT, N_IN) * 0.3
    )
    layer = Serial(connection, LIF(N_OUT, 1.0, thresh_v=-52.0))
    updater = updater_for(connection)
    updater.add("weight", bound="soft", w_min=0.0, w_max=1.0)
    stdp = STDP(lr_post=1e-2, lr_pre=1e-4)
    stdp.register(layer.cell())
    with torch.no_grad():
        for _ in range(steps):
            layer((torch.rand(batch, N_IN, generator=generator) < 0.03).float())
            stdp()
            updater.step()
    return {"tensor_bytes": tensor_bytes(layer) + tensor_bytes(stdp)}


def run_w4(steps: int, batch: int) -> dict[str, int]:
    from inferno_lightning.learn import Updater, apply_flattened, flatten_pending
    from inferno_lightning.models import DiehlCook2015

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DiehlCook2015(
            n_neurons=N_OUT, step_time=0.5, presentation_time=125.0, min_spikes=0
        ).train()
    updaters = [m for m in model.modules() if isinstance(m, Updater)]
    generator = torch.Generator().manual_seed(0)
    rate = torch.rand(batch, N_IN, generator=generator) * 63.75 * 0.5e-3
    with torch.no_grad():
        model.reset_state()
        for t in range(steps):
            model.step(torch.rand(batch, N_IN, generator=generator) < rate)
            model.learning_step()
            if (t + 1) % 250 == 0:
                apply_flattened(updaters, *flatten_pending(updaters))
                model.reset_state()
    return {"tensor_bytes": tensor_bytes(model)}


def child(workload: str, steps: int, batch: int, threads: int) -> None:
    torch.set_num_threads(threads)
    result = (run_w2 if workload == "W2" else run_w4)(steps, batch)
    result["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.batch, args.threads)
        return
    print(f"peak RSS and tensor bytes at the end, fresh process per T, batch {args.batch}")
    print(f"{'workload':>8} {'T':>6} {'peak RSS MiB':>13} {'tensor MiB':>11}")
    for workload in ("W2", "W4"):
        for steps in args.steps:
            out = subprocess.run(
                [sys.executable, __file__, "--child", workload, str(steps),
                 "--batch", str(args.batch), "--threads", str(args.threads)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{workload:>8} {steps:>6} {result['maxrss_kib'] / 1024:>13.1f} "
                f"{result['tensor_bytes'] / 2**20:>11.2f}"
            )


if __name__ == "__main__":
    main()
