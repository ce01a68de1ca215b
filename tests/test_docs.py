"""The documentation site: every public name has a docstring, and the site builds in strict mode.

``mkdocs build --strict`` fails on a broken link or cross-reference and on a docstring that
mkdocstrings cannot parse, but not on a missing docstring (mkdocstrings shows the signature
alone), so a separate test walks the public names.
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The modules whose ``__all__`` is the public API (each has a page under docs/api/).
PUBLIC_MODULES = (
    "inferno_lightning",
    "inferno_lightning.functional",
    "inferno_lightning.neural",
    "inferno_lightning.encode",
    "inferno_lightning.observe",
    "inferno_lightning.learn",
    "inferno_lightning.learn.rules",
    "inferno_lightning.callbacks",
    "inferno_lightning.metrics",
    "inferno_lightning.strategies",
    "inferno_lightning.checkpoint_io",
    "inferno_lightning.data",
    "inferno_lightning.models",
    "inferno_lightning.plotting",
    "inferno_lightning.nir",
)


def _documented(obj: object) -> bool:
    # A class's own docstring: inspect.getdoc would hand back its base class's.
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return bool((doc or "").strip())


def _added_members(cls: type) -> list[str]:
    """Public methods and properties a class defines that no base class has."""
    names = []
    for name, value in vars(cls).items():
        if name.startswith("_") or any(name in vars(base) for base in cls.__mro__[1:]):
            continue
        function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        if callable(function) and not _documented(function):
            names.append(name)
    return names


def test_every_public_name_has_a_docstring() -> None:
    pytest.importorskip("nir")
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        if not _documented(module):
            missing.append(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants and type aliases carry no docstring of their own
            if not _documented(obj):
                missing.append(f"{module_name}.{name}")
            if inspect.isclass(obj) and obj.__module__.startswith("inferno_lightning"):
                missing.extend(f"{module_name}.{name}.{m}" for m in _added_members(obj))
    assert not missing, f"public names without a docstring: {sorted(set(missing))}"


def test_every_public_module_has_an_api_page() -> None:
    pages = "\n".join(path.read_text() for path in (ROOT / "docs" / "api").glob("*.md"))
    for module_name in PUBLIC_MODULES:
        assert f"::: {module_name}\n" in pages, module_name


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("mkdocs")
    if not executable.exists():
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    environment = dict(os.environ, NO_MKDOCS_2_WARNING="1", OMP_NUM_THREADS="1")
    return subprocess.run(
        [str(executable), "build", "--strict", "--config-file", str(config), "--site-dir",
         str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=environment,
    )  # fmt: skip


@pytest.mark.slow
def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    result = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    # The API reference holds the public names, their equations as math, no Sphinx markup left.
    neural = (site / "api" / "neural" / "index.html").read_text()
    assert 'id="inferno_lightning.neural.LIF"' in neural
    assert "arithmatex" in neural and ":math:" not in neural and ":class:" not in neural
    assert 'id="inferno_lightning.nir.to_nir"' in (site / "api" / "nir" / "index.html").read_text()
    # The concepts page draws the composition diagram; the notebooks are rendered with outputs.
    assert 'class="mermaid"' in (site / "concepts" / "index.html").read_text()
    quickstart = (site / "notebooks" / "01_quickstart" / "index.html").read_text()
    assert "all checks passed" in quickstart and "data:image/png" in quickstart
    assert (site / "figures" / "raster.png").exists()


@pytest.mark.slow
def test_a_broken_cross_reference_fails_the_strict_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, symlinks=False)
    (docs / "getting-started.md").write_text(
        "# Getting started\n\nSee [the neurons][inferno_lightning.neural.NoSuchNeuron] and "
        "[a page](no-such-page.md).\n"
    )
    config = (ROOT / "mkdocs.yml").read_text()
    config = config.replace("docs_dir: docs", f"docs_dir: {docs}")
    config = config.replace("paths: [src]", f"paths: [{ROOT / 'src'}]")
    config = config.replace("- docs/griffe_sphinx.py", f"- {docs / 'griffe_sphinx.py'}")
    (tmp_path / "mkdocs.yml").write_text(config)
    result = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "no-such-page.md" in output and "inferno_lightning.neural.NoSuchNeuron" in output
