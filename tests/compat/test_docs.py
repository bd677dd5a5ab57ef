"""docs/compat.md's table must tell the truth: every name it lists as there exists, every missing one is absent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import npgrad

DOC = Path(__file__).resolve().parents[2] / "docs" / "compat.md"
ROW = re.compile(r"^\| `(torch|torchvision)\.([\w.]+)` \| (supported|differs|missing) \|", re.M)


def _resolve(package: str, dotted: str):
    """``torch.X`` is ``npgrad.X``; ``torchvision.X`` is ``npgrad.vision.X``."""
    import importlib

    value = npgrad if package == "torch" else importlib.import_module("npgrad.vision")
    for part in dotted.split("."):
        if not hasattr(value, part):
            try:
                value = importlib.import_module(f"{value.__name__}.{part}")
                continue
            except (ImportError, AttributeError):
                return None
        value = getattr(value, part)
    return value


ROWS = ROW.findall(DOC.read_text())


def test_the_table_has_rows():
    assert len(ROWS) > 30


@pytest.mark.parametrize("package, name, status", ROWS)
def test_listed_names_exist_exactly_when_not_missing(package, name, status):
    found = _resolve(package, name)
    if status == "missing":
        assert found is None, f"npgrad.{name} exists now: update docs/compat.md"
    else:
        assert found is not None, f"docs/compat.md lists npgrad.{name} as {status}, but it does not exist"


def test_the_readme_pytorch_example_runs_as_written():
    readme = (DOC.parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(import npgrad as torch.*?)```", readme, re.S)
    assert len(blocks) == 1
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["l"].item() > 0 and namespace["device"] == "cpu"
