"""A griffe extension for the documentation site: the docstrings' Sphinx markup as Markdown.

The package's docstrings are Google-style (``Args:``, ``Returns:``, ``Raises:``), which
mkdocstrings parses, with Sphinx inline markup inside them: ``.. math::`` blocks,
``:math:`...``` roles, ``:class:`...``` and friends, double-backquoted literals, ``Example::``
blocks. Markdown renders none of these, so each docstring is rewritten once, when griffe loads
it: math becomes ``$$ ... $$`` and ``$...$`` (rendered by MathJax through pymdownx.arithmatex),
roles and literals become inline code, and literal blocks become fenced code.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE_MATH = re.compile(r":math:`([^`]+)`")
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|obj|data|exc|const|ref|doc):`~?([^`]+)`")
_LITERAL = re.compile(r"(?<!`)``([^`]+)``(?!`)")
_LINK = re.compile(r"`([^`<]+?)\s*<([^>`]+)>`__?")
_DIRECTIVE = re.compile(r"^(\s*)\.\. (math|code-block|code)::\s*(\S*)\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blocks(text: str) -> str:
    """``.. math::`` / ``.. code::`` directives and ``...::`` literal blocks as Markdown blocks."""
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE.match(line)
        literal = (
            not directive and line.rstrip().endswith("::") and not line.strip().startswith("..")
        )
        if not (directive or literal):
            out.append(line)
            index += 1
            continue
        base = _indent(line)
        if directive:
            kind = directive.group(2)
        else:
            kind = "code"
            head = line.rstrip()[:-1]  # "Example::" -> "Example:"
            out.append(head if not head.endswith(" :") else head[:-2])
        index += 1
        body: list[str] = []
        while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > base):
            body.append(lines[index])
            index += 1
        while body and not body[-1].strip():
            body.pop()
        content = textwrap.dedent("\n".join(body)).strip("\n")
        pad = " " * base
        if kind == "math":
            out.extend(
                ["", pad + "$$", *[pad + row for row in content.splitlines()], pad + "$$", ""]
            )
        else:
            out.extend(["", pad + "```python", *[pad + row for row in content.splitlines()],
                        pad + "```", ""])  # fmt: skip
    return "\n".join(out)


_NAMES_CONTINUED = re.compile(r"^\s+[A-Za-z_][\w]*(?:, [A-Za-z_][\w]*)*,$")


def _join_name_lists(text: str) -> str:
    """``a, b,`` wrapped onto ``c: see X`` (several arguments described at once) on one line."""
    lines = text.splitlines()
    out: list[str] = []
    for line in lines:
        if out and _NAMES_CONTINUED.match(out[-1]) and line.strip():
            out[-1] = out[-1] + " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


_ENTRY = re.compile(r"^\s+[\w.]+(?: \([^)]*\))?:")


def _free_text_raises(text: str) -> str:
    """A ``Raises:`` section written as prose (``As Monitor.``) becomes a bold paragraph.

    Griffe's Google parser expects ``ExceptionName: description`` entries there.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "Raises:":
            following = next((item for item in lines[index + 1 :] if item.strip()), "")
            if not _ENTRY.match(following):
                lines[index] = line.replace("Raises:", "**Raises:**")
    return "\n".join(lines)


def to_markdown(text: str) -> str:
    """The docstring ``text`` with its Sphinx markup rewritten as Markdown."""
    text = _free_text_raises(_join_name_lists(_blocks(text)))
    text = _LINK.sub(lambda m: f"[{m.group(1)}]({m.group(2)})", text)
    text = _ROLE_MATH.sub(lambda m: f"${m.group(1)}$", text)
    text = _ROLE.sub(
        lambda m: f"`{m.group(1).split('.')[-1] if '.' in m.group(1) else m.group(1)}`", text
    )
    return _LITERAL.sub(lambda m: f"`{m.group(1)}`", text)


class SphinxToMarkdown(griffe.Extension):
    """Rewrite every docstring's Sphinx markup as Markdown when griffe loads it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
