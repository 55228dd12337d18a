"""The repository stands alone: nothing in it reads data from a path outside it.

A fresh clone has nothing beside it, so a test or a script that reaches for ``../…`` works
only on the machine it was written on. These checks keep it so.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The folder beside the repository that nothing may read (spelt apart, so this file is
#: not itself a mention of it).
_SIBLING = "sh" + "ared"
#: A relative path that climbs: ``../<folder>/x.json``, ``../../etc`` (not ``../`` in prose).
_CLIMBING_PATH = re.compile(r"(?<![\w./])(?:\.\./)+[\w.-]+")


#: Folders that are made (installs, caches, outputs), not part of the repository.
_MADE = {".git", ".venv", "node_modules", "test-output", "instance", "build", "__pycache__"}


def _tracked_files() -> list[Path]:
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in _MADE and not d.endswith("_cache")]
        files += [Path(folder) / name for name in names if not name.endswith((".mo", ".pyc"))]
    return sorted(files)


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return None


def _inside(path: Path) -> bool:
    return path.resolve().is_relative_to(ROOT)


def _is_hostile_input_table(path: Path) -> bool:
    # Test modules feed ``../`` paths to the portal as attacks; they are inputs, not data.
    return path.parent.name in {"tests", "devstack", "browser", "support"} and path.name.startswith(
        "test_"
    )


def test_no_file_names_a_relative_path_outside_the_repository():
    outside = []
    for path in _tracked_files():
        text = _text(path)
        if text is None or _is_hostile_input_table(path):
            continue
        for match in _CLIMBING_PATH.finditer(text):
            if not _inside(path.parent / match.group()):
                outside.append(f"{path.relative_to(ROOT)}: {match.group()}")
    assert outside == []


def test_nothing_refers_to_the_shared_folder_beside_the_repository():
    mentions = [
        str(path.relative_to(ROOT))
        for path in _tracked_files()
        if path.name != Path(__file__).name
        and re.search(rf"\.\./{_SIBLING}|{_SIBLING}/stripe", _text(path) or "")
    ]
    assert mentions == []


def _file_relative_paths(tree: ast.AST) -> list[tuple[int, int]]:
    """(line, levels climbed) of each ``Path(__file__)…parent…/parents[n]`` chain."""
    chains = {}
    for node in ast.walk(tree):
        levels, inner = 0, node
        while True:
            if isinstance(inner, ast.Attribute) and inner.attr == "parent":
                levels, inner = levels + 1, inner.value
            elif (
                isinstance(inner, ast.Subscript)
                and isinstance(inner.value, ast.Attribute)
                and inner.value.attr == "parents"
                and isinstance(inner.slice, ast.Constant)
            ):
                levels, inner = levels + int(inner.slice.value) + 1, inner.value.value
            elif isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
                inner = inner.func.value  # .resolve(), .absolute()
            else:
                break
        if levels and _is_path_of_file(inner):
            # ast.walk meets the whole chain before its parts: keep the longest climb.
            chains.setdefault(id(inner), (node.lineno, levels))
    return sorted(chains.values())


def _is_path_of_file(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Path"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "__file__"
    )


@pytest.mark.parametrize(
    "path",
    [p for p in _tracked_files() if p.suffix == ".py"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_python_paths_built_from_file_stay_inside_the_repository(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for line, levels in _file_relative_paths(tree):
        target = path
        for _ in range(levels):
            target = target.parent
        assert _inside(target), f"{path.relative_to(ROOT)}:{line} climbs out of the repository"


def test_the_guard_catches_a_path_beside_the_repository():
    climbing = ast.parse(f"F = Path(__file__).resolve().parents[2].parent / {_SIBLING!r}")
    assert _file_relative_paths(climbing) == [(1, 4)]
    assert _CLIMBING_PATH.search(f'open("../{_SIBLING}/stripe/fixtures3.json")')
    assert not _CLIMBING_PATH.search("so ``../`` and friends have nothing to work with")
