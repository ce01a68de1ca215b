"""The README's main job, run as written: the digits recipe trains, tests, and says where logs went."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ".venv/bin/inferno-lightning fit --config recipes/digits_diehl_cook.yaml"


def test_readme_and_makefile_give_the_same_main_job() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make digits" in readme and COMMAND in readme
    makefile = (ROOT / "Makefile").read_text()
    assert (
        "\t$(VENV)/bin/inferno-lightning fit --config recipes/digits_diehl_cook.yaml\n" in makefile
    )


@pytest.mark.slow
def test_main_job_reaches_the_documented_accuracy(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("inferno-lightning")
    config = ROOT / "recipes" / "digits_diehl_cook.yaml"
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    done = subprocess.run(
        [str(script), "fit", "--config", str(config), "--trainer.enable_progress_bar", "false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    accuracy = float(re.search(r"^test/accuracy: ([0-9.]+)$", done.stdout, re.M)[1])
    assert accuracy >= 0.85  # the README's figure is measured with this command
    logs = Path(re.search(r"^logs \(wandb, offline\): (\S+)", done.stdout, re.M)[1])
    assert logs.is_relative_to(tmp_path) and any(logs.glob("*.wandb"))
    assert (tmp_path / "checkpoints" / "digits_diehl_cook" / "last.ckpt").is_file()
