"""The repository stands on its own: what the README links and pyproject.toml promises is inside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_links_resolve_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    # Markdown links and backquoted paths that name a file of the repository.
    targets = re.findall(r"\]\(([^)#\s]+)\)", readme)
    targets += re.findall(r"`((?:\.\./|docs/)[^`\s]+\.md)`", readme)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert "docs/design.md" in local and "docs/conventions.md" in local
    for target in local:
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT), f"README links {target}, outside the repository"
        assert path.is_file(), f"README links {target}, which does not exist"


def test_design_and_conventions_are_in_the_repository() -> None:
    design = (ROOT / "docs" / "design.md").read_text()
    conventions = (ROOT / "docs" / "conventions.md").read_text()
    # The six invariants the tests cite as "DESIGN.md invariant N".
    assert len(re.findall(r"^\d\. \*\*", design, flags=re.MULTILINE)) == 6
    assert "Multi-device equivalence" in design and "Bad input gets a clear error" in design
    assert "conventions.md" in design and "design.md" in conventions


def test_license_file_matches_pyproject() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = \{ text = "MIT" \}$', pyproject, flags=re.MULTILINE)
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "inferno-lightning developers" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
