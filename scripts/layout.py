"""Print the code's layout, one line per module, from the modules' docstrings.

    .venv/bin/python scripts/layout.py            # print it
    .venv/bin/python scripts/layout.py --write    # put it in docs/layout.md (its text block)

Each line is a module's path and the first sentence of its docstring: the docstrings are the
one description of a module, and this tree is made from them, never written by hand
(tests/test_architecture.py checks that docs/layout.md holds the tree as it is now).
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("arcticnews", "feeds")
SKIP = {"migrations", "__pycache__", "sample_feeds"}
WIDTH = 100
LABEL = 28  # the column where descriptions start
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"(])|\n\s*\n")


def summary(path: Path) -> str:
    """The first sentence of a module's docstring, on one line ("" without a docstring)."""
    module = ast.parse(path.read_text(encoding="utf-8"))
    doc = ast.get_docstring(module) or _command_help(module)
    first = _SENTENCE_END.split(doc.strip(), maxsplit=1)[0]
    return " ".join(first.split()).rstrip(":")


def _command_help(module: ast.Module) -> str:
    """A management command's ``help`` (what ``manage.py help`` shows), if it is one."""
    for node in module.body:
        if isinstance(node, ast.ClassDef) and node.name == "Command":
            for item in node.body:
                if (
                    isinstance(item, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "help" for t in item.targets)
                    and isinstance(item.value, ast.Constant)
                    and isinstance(item.value.value, str)
                ):
                    return item.value.value
    return ""


def entries(directory: Path, depth: int = 0) -> list[tuple[int, str, str]]:
    """(depth, name, description) for every module and sub-package, packages first."""
    rows: list[tuple[int, str, str]] = []
    modules = sorted(p for p in directory.glob("*.py") if p.name != "__init__.py")
    packages = sorted(
        p
        for p in directory.iterdir()
        if p.is_dir() and p.name not in SKIP and (p / "__init__.py").exists()
    )
    for module in modules:
        rows.append((depth, module.name, summary(module)))
    for package in packages:
        rows.append((depth, package.name + "/", summary(package / "__init__.py")))
        rows.extend(entries(package, depth + 1))
    return rows


def _line(label: str, text: str) -> list[str]:
    lines = textwrap.wrap(text, WIDTH - LABEL - 1) or [""]
    return [f"{label:<{LABEL}} {lines[0]}".rstrip()] + [" " * (LABEL + 1) + x for x in lines[1:]]


def tree() -> str:
    """The layout of ``PACKAGES``: one line per module (wrapped), indented by package."""
    lines: list[str] = []
    for package in PACKAGES:
        top = ROOT / package
        lines += _line(f"{package}/", summary(top / "__init__.py"))
        for depth, name, text in entries(top, 1):
            lines += _line("  " * depth + name, text)
    return "\n".join(lines) + "\n"


DOC = ROOT / "docs" / "layout.md"
_BLOCK = re.compile(r"(?<=\n```text\n).*?(?=^```$)", re.DOTALL | re.MULTILINE)


def write(doc: Path = DOC) -> None:
    """Replace docs/layout.md's text block (the tree) with the tree as the code is now."""
    text = doc.read_text(encoding="utf-8")
    updated, count = _BLOCK.subn(lambda _: tree(), text, count=1)
    if count != 1:
        raise SystemExit(f"{doc}: no ```text block to write the tree into")
    doc.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        sys.stdout.write(tree())
