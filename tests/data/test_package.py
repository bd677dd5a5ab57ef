"""Package-level guarantees: cheap import, and no dependency on the rest of npgrad."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import npgrad.data

DATA_DIR = Path(npgrad.data.__file__).parent
SRC_DIR = DATA_DIR.parents[1]


def test_import_does_not_load_pillow_urllib_or_thread_pools():
    lazy = ("PIL", "urllib.request", "concurrent.futures")
    code = f"import sys, npgrad.data; print(sorted(m for m in {lazy!r} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC_DIR), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "[]"


def _imported_modules(tree: ast.AST) -> list[str]:
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.append(node.module)
    return modules


def test_data_imports_no_other_npgrad_subpackage():
    """Only npgrad.data itself, and npgrad.errors: the error family, a leaf module importing nothing."""
    files = list(DATA_DIR.rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        for name in _imported_modules(ast.parse(path.read_text())):
            allowed = name.startswith("npgrad.data") or name == "npgrad.errors"
            assert name.split(".")[0] != "npgrad" or allowed, f"{path.name} imports {name}"
    errors = ast.parse((SRC_DIR / "npgrad" / "errors.py").read_text())
    assert _imported_modules(errors) == ["__future__"]
