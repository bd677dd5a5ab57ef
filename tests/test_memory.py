import subprocess
import sys

import pytest

from npgrad import _memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_keep_freed_memory_is_accepted_by_glibc():
    assert _memory.keep_freed_memory() is True


def test_opt_out_with_the_environment_variable(monkeypatch):
    monkeypatch.setenv("NPGRAD_KEEP_FREED_MEMORY", "0")
    assert _memory.apply_default() is False


def test_import_works_with_and_without_the_tuning():
    code = "import npgrad; assert npgrad.randn(3, 4).sum().shape == ()"
    for value in ("0", "1"):
        env = {"NPGRAD_KEEP_FREED_MEMORY": value, "PATH": ""}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
