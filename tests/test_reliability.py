"""Kill and resume, and determinism, of the digits recipe run as users run it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inferno_lightning.cli import cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:LightningCLI's args parameter:UserWarning"),
]

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "recipes" / "digits_diehl_cook.yaml")
SCRIPT = Path(sys.executable).with_name("inferno-lightning")
# The recipe as written, smaller: 3 epochs of all 17 batches, so that a fit lasts a few seconds
# and a kill lands in the middle of one.
SMALL = [
    "--config", DIGITS,
    "--model.init_args.n_neurons", "64",
    "--model.init_args.presentation_time", "40",
    "--trainer.max_epochs", "3",
    "--trainer.limit_val_batches", "2",
    "--trainer.limit_test_batches", "2",
    "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
]  # fmt: skip
LAST = Path("checkpoints") / "digits_diehl_cook" / "last.ckpt"


def environment() -> dict[str, str]:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", OMP_NUM_THREADS="1")
    for name in ("MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK"):
        env.pop(name, None)
    return env


def metrics(output: str) -> dict[str, float]:
    """The ``name: value`` lines of the CLI's report."""
    return {
        m[1]: float(m[2]) for m in re.finditer(r"^((?:val|test)/\w+): ([0-9.]+)$", output, re.M)
    }


def learned(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def test_a_killed_fit_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    straight.mkdir()
    killed.mkdir()
    command = [str(SCRIPT), "fit", *SMALL]
    done = subprocess.run(command, cwd=straight, env=environment(), capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    reference = learned(straight / LAST)
    reference_metrics = metrics(done.stdout)
    assert "test/accuracy" in reference_metrics

    # Kill (SIGKILL, no chance to clean up) as soon as the first epoch's checkpoint exists.
    process = subprocess.Popen(command, cwd=killed, env=environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 600
    while not (killed / LAST).exists():
        assert process.poll() is None, "the fit ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    at_kill = torch.load(killed / LAST, map_location="cpu", weights_only=False)
    assert 0 < at_kill["global_step"] < 3 * 17  # part-way, and the checkpoint is whole

    resumed = subprocess.run([*command, "--ckpt_path", "last"], cwd=killed, env=environment(),
                             capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = learned(killed / LAST)
    assert torch.load(killed / LAST, map_location="cpu", weights_only=False)["global_step"] == 51
    assert final.keys() == reference.keys()
    for name, tensor in reference.items():
        assert torch.equal(final[name], tensor), name
    # The weights, the adaptive thresholds and the metrics are those of the straight run.
    assert any(name.endswith("weight") for name in final)
    assert any(name.endswith("adaptation") for name in final)
    assert metrics(resumed.stdout) == reference_metrics


def fit_in_process(folder: Path, seed: int) -> tuple[dict[str, torch.Tensor], float]:
    folder.mkdir()
    previous = Path.cwd()
    os.chdir(folder)
    try:
        run = cli(["fit", *SMALL, "--trainer.max_epochs", "1", "--seed_everything", str(seed),
                   "--model.init_args.seed", str(seed), "--data.init_args.seed", str(seed)])  # fmt: skip
    finally:
        os.chdir(previous)
    weights = {k: v.detach().clone() for k, v in run.model.state_dict().items()
               if isinstance(v, torch.Tensor) and v.is_floating_point()}  # fmt: skip
    return weights, float(run.trainer.callback_metrics["test/accuracy"])


def test_same_seed_same_result_other_seed_other_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    first, first_accuracy = fit_in_process(tmp_path / "a", seed=0)
    second, second_accuracy = fit_in_process(tmp_path / "b", seed=0)
    other, _ = fit_in_process(tmp_path / "c", seed=1)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    assert first_accuracy == second_accuracy
    weight = next(name for name in first if name.endswith("input.weight"))
    assert not torch.equal(first[weight], other[weight])
