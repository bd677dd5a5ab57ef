"""The harness of the course-style programs in ``programs/``: each is PyTorch source text, run
twice, once as written (real PyTorch, when installed) and once with only its imports rewritten
to npgrad's (`npgrad_source`), from the same initial values (`SharedStart`)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

PROGRAMS = Path(__file__).parent / "programs"

_IMPORT_RULES = [
    (re.compile(r"^import torch$"), "import npgrad as torch"),
    (re.compile(r"^import torch\.([\w.]+) as (\w+)$"), r"import npgrad.\1 as \2"),
    (re.compile(r"^from torch((?:\.\w+)*) import (.+)$"), r"from npgrad\1 import \2"),
]


def npgrad_source(source: str) -> str:
    """``source`` with its torch imports made npgrad's, and not one other character changed."""
    lines = []
    for line in source.splitlines(keepends=True):
        body = line.rstrip("\n")
        for pattern, replacement in _IMPORT_RULES:
            if pattern.match(body):
                line = pattern.sub(replacement, body) + line[len(body):]
                break
        else:
            if re.match(r"^\s*(import|from)\s+torch\b", body):
                raise ValueError(f"unsupported torch import form: {body!r}")
        lines.append(line)
    return "".join(lines)


class SharedStart:
    """Records the initial values of the first run, call by call, and gives them to the next run.

    Recording reads the first framework's tensors and modules (``state_dict``,
    ``detach().numpy()``); replaying (after `replay`) overwrites the other's in place, in the
    same order of calls, through the API both frameworks share.
    """

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []
        self.replaying = False
        self.position = 0
        self.torch: Any = None  # the framework module of the current run

    def replay(self) -> None:
        self.replaying, self.position = True, 0

    def _next(self, values: list[Any]) -> list[Any]:
        if not self.replaying:
            self.calls.append(values)
            return values
        self.position += 1
        return self.calls[self.position - 1]

    def start(self, *things: Any) -> None:
        recorded = self._next([{k: _array(v) for k, v in t.state_dict().items()} if hasattr(t, "state_dict")
                               else _array(t) for t in things])
        if not self.replaying:
            return
        for thing, value in zip(things, recorded):
            if hasattr(thing, "state_dict"):
                thing.load_state_dict({k: self.torch.from_numpy(v.copy()) for k, v in value.items()})
            else:
                with self.torch.no_grad():
                    thing.copy_(self.torch.from_numpy(value.copy()))

    def same_split(self, *indices: Any) -> tuple[np.ndarray, ...]:
        return tuple(self._next([np.asarray(i, dtype=np.int64) for i in indices]))


def _array(value: Any) -> np.ndarray:
    """A copy of a tensor of either framework (npgrad's state dicts hold NumPy arrays already)."""
    return np.array(value.detach().numpy() if hasattr(value, "detach") else value)


def run_program(name: str, framework: str, shared: SharedStart, **inputs: Any) -> dict[str, Any]:
    """Run ``programs/<name>.py`` with ``framework`` ("npgrad" or "torch"); returns its global names."""
    source = (PROGRAMS / f"{name}.py").read_text()
    if framework == "npgrad":
        source = npgrad_source(source)
    shared.torch = importlib.import_module(framework)
    namespace = {"__name__": f"compat_{name}", "shared": shared, **inputs}
    with _one_thread(shared.torch):
        exec(compile(source, str(PROGRAMS / f"{name}.py"), "exec"), namespace)
    return namespace


@contextlib.contextmanager
def _one_thread(framework: Any) -> Iterator[None]:
    """Both frameworks on one thread (npgrad's BLAS too): the test machine is shared, and there threads only
    add contention (a NiN run took 52 s with OpenBLAS's threads, 4 s without them, on a loaded machine)."""
    from threadpoolctl import threadpool_limits

    threads = framework.get_num_threads()  # torch.get_num_threads and npgrad.get_num_threads alike
    framework.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        framework.set_num_threads(threads)


def run_both(name: str, **inputs: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Run a program on npgrad, then (when installed) on PyTorch from the same start: (ours, theirs or None)."""
    shared = SharedStart()
    ours = run_program(name, "npgrad", shared, **inputs)
    shared.replay()
    theirs = run_program(name, "torch", shared, **inputs) if importlib.util.find_spec("torch") else None
    return ours, theirs


@pytest.fixture
def compat() -> Any:
    """The harness functions, for the tests (conftest modules are not importable under importlib mode)."""
    import types

    return types.SimpleNamespace(run_both=run_both, npgrad_source=npgrad_source)


@pytest.fixture(scope="session")
def fashion_subset() -> dict[str, np.ndarray]:
    """512 training and 256 test images of the bundled Fashion-MNIST subset, float32 in [0, 1]."""
    from npgrad.data import fashion_mnist_small

    train, test = fashion_mnist_small(train=True), fashion_mnist_small(train=False)
    return {
        "train_images": (train.data[:512] / np.float32(255)).astype(np.float32),
        "train_labels": train.targets[:512].astype(np.int64),
        "test_images": (test.data[:256] / np.float32(255)).astype(np.float32),
        "test_labels": test.targets[:256].astype(np.int64),
    }
