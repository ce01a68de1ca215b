"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), namespace)
    if "counts" in namespace:  # the first network: a rate near the documented 58 Hz
        rate = float(namespace["counts"].mean() * 4)
        assert 40.0 < rate < 80.0
    if "trainer" in namespace:  # the Lightning example: STDP changed the weights
        model = namespace["trainer"].lightning_module
        assert model.layer.connection.weight.sum(1).sub(100.0).abs().max() < 1e-3
