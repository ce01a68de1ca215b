"""The notebooks in ``notebooks/`` run top to bottom, and the committed copies keep their outputs.

Each notebook ends with asserts on its own results (rates against closed forms, test accuracy,
weights of 2 ranks against 1 process, ...), so executing it is the test. The execution runs a copy
in a temporary working directory, with a kernel started from this interpreter (the project's
virtual environment), with Weights & Biases disabled; the committed notebooks are never rewritten.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = (
    "01_quickstart.ipynb",
    "02_stdp_digits.ipynb",
    "03_extend.ipynb",
    "04_multi_device.ipynb",
)
NOTEBOOKS = sorted(path.name for path in FOLDER.glob("*.ipynb"))
#: Notebooks whose committed outputs must include a plot (embedded PNG).
WITH_PLOTS = ("01_quickstart.ipynb", "02_stdp_digits.ipynb")
#: Every notebook's last code cell prints this after its asserts pass.
PASSED = "all checks passed"
CELL_TIMEOUT = 300  # seconds
KERNEL = "inferno-lightning-tests"
# Launcher variables of a distributed run (e.g. left by another test) must not reach the kernel:
# the DDP notebook starts its own process group.
LAUNCHER_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK",
                      "NODE_RANK", "GLOBAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK")  # fmt: skip


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(FOLDER / name, as_version=4)


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stdout"
    )


def kernel_manager(folder: Path) -> KernelManager:
    """A manager for an IPython kernel run by this interpreter, whatever ``python3`` names elsewhere."""
    spec = folder / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "inferno-lightning tests", "language": "python"})
    )
    specs = KernelSpecManager(kernel_dirs=[str(folder)])
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def test_the_tutorial_notebooks_are_all_there() -> None:
    assert set(EXPECTED) <= set(NOTEBOOKS), f"missing: {sorted(set(EXPECTED) - set(NOTEBOOKS))}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_carries_the_outputs_of_one_passing_run(name: str) -> None:
    path = FOLDER / name
    assert path.stat().st_size < 1_000_000, f"{name} is {path.stat().st_size} bytes"
    notebook = read(name)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    # Executed top to bottom in one kernel: execution counts 1, 2, 3, ...
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    outputs = [output for cell in cells for output in cell.outputs]
    assert outputs, f"{name} has no outputs"
    assert not [output for output in outputs if output.output_type == "error"]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    if name in WITH_PLOTS:
        assert images, f"{name} shows no plot"
    assert PASSED in stdout(cells[-1]), f"the committed run of {name} did not pass its checks"
    # Nothing of the machine that ran it: no temporary or environment paths in the outputs.
    text = json.dumps([output for output in outputs if "image/png" not in output.get("data", {})])
    for fragment in (tempfile.gettempdir() + "/", "site-packages"):
        assert fragment not in text, f"{name} outputs mention {fragment!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    for variable in LAUNCHER_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    notebook = read(name)  # a copy in memory: the committed file is never written
    manager = kernel_manager(tmp_path / "kernels")
    client = NotebookClient(
        notebook, km=manager, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(work)}}
    )
    start = time.perf_counter()
    try:
        client.execute()  # raises CellExecutionError, with the traceback, on any failing cell
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)
        nbformat.write(notebook, tmp_path / name)  # the executed copy, to inspect on failure
    print(f"{name}: executed in {time.perf_counter() - start:.1f} s")
    assert PASSED in stdout(code_cells(notebook)[-1])
    assert os.listdir(work) == [], f"{name} left files behind: {os.listdir(work)}"
