"""Per-operator times, forward and backward, npgrad vs PyTorch CPU, and vs npgrad's naive loop kernels.

    python benchmarks/bench_ops.py [--window 1] [--repeat 5] [--threads N] [--json PATH] [--quick]

All in float32, the shapes of LeNet / a ResNet stage / cs231n exercises. For each operator:

* fwd: one forward call with gradient recording on, as in a training step (inputs that need a
  gradient as in a network: a first layer's input does not);
* bwd: one backward call alone: each timed call gets a fresh, untimed forward pass, then only
  ``out.backward(dout)`` is timed (a fixed random ``dout``; leaf gradients reset to None first,
  so both frameworks allocate them);
* ratio = PyTorch time / npgrad time for fwd + bwd (1 = as fast, below 1 = npgrad slower);
* naive: the textbook loop forward of ``npgrad.testing.naive`` (conv and pooling only) next to
  npgrad's vectorized forward (no gradient recording) on the same small batch, and the speed-up.

Each time is the median of per-call times over a ``--window`` (at least ``--repeat`` calls after
warm-up). npgrad and PyTorch run in separate subprocesses (``--worker``), one after the other, on
the same seeded inputs, so that one framework's thread pool (OpenBLAS's threads, which busy-wait
for a while after each call, or PyTorch's OpenMP pool) never competes with the other's.
``--quick`` runs tiny batches and no window: a smoke test, not a measurement.
"""

from __future__ import annotations

import common  # first: pins the BLAS thread count before NumPy loads

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import npgrad
from npgrad.nn import functional as F
from npgrad.testing import naive

SEED = 0
NAIVE_BATCH = 2
QUICK_BATCH, QUICK_NAIVE_BATCH, QUICK_CALLS = 4, 1, 2


@dataclass(frozen=True)
class Input:
    """One argument: ``shape`` (the first axis of the first input is the batch), whether it needs a gradient
    (None: a plain array, not a differentiable input, e.g. batch norm's running statistics) and its values."""

    name: str
    shape: tuple[int, ...]
    grad: bool | None = True
    fill: str = "normal"  # 'normal' (standard normal, weights scaled by 0.1), 'zeros' or 'ones'


@dataclass(frozen=True)
class Case:
    op: str  # a function name in npgrad.nn.functional and torch.nn.functional
    inputs: tuple[Input, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    naive: Callable[..., np.ndarray] | None = None  # the textbook loop forward, same arguments

    def with_batch(self, batch: int) -> Case:
        first, *rest = self.inputs
        return Case(self.op, (Input(first.name, (batch, *first.shape[1:]), first.grad, first.fill), *rest),
                    self.kwargs, self.naive)

    def label(self) -> str:
        shown = [f"{i.name}{i.shape}".replace(" ", "") + ("" if i.grad or i.name != "x" else " (no grad)")
                 for i in self.inputs if i.name in ("x", "w")]
        return " ".join(shown + [f"{k}={v}" for k, v in self.kwargs.items()])

    def arrays(self, rng: np.random.Generator) -> list[np.ndarray]:
        out = []
        for i in self.inputs:
            if i.fill == "normal":
                scale = 0.1 if i.name == "w" else 1.0
                out.append((scale * rng.standard_normal(i.shape)).astype(np.float32))
            else:
                out.append((np.zeros if i.fill == "zeros" else np.ones)(i.shape, dtype=np.float32))
        return out


def _conv(x: tuple[int, ...], w: tuple[int, ...], first_layer: bool = False, **kwargs: Any) -> Case:
    inputs = (Input("x", x, grad=not first_layer), Input("w", w), Input("b", (w[0],)))
    return Case("conv2d", inputs, kwargs, naive.conv2d_forward)


def _pool(op: str, x: tuple[int, ...], naive_forward: Callable[..., np.ndarray], **kwargs: Any) -> Case:
    return Case(op, (Input("x", x),), kwargs, naive_forward)


def _batch_norm(x: tuple[int, ...]) -> Case:
    c = x[1]
    inputs = (Input("x", x), Input("running_mean", (c,), None, "zeros"), Input("running_var", (c,), None, "ones"),
              Input("weight", (c,), fill="ones"), Input("bias", (c,), fill="zeros"))
    return Case("batch_norm", inputs, {"training": True})


CASES = [
    _conv((256, 1, 28, 28), (6, 1, 5, 5), first_layer=True, padding=2),
    _conv((256, 6, 14, 14), (16, 6, 5, 5)),
    _conv((256, 64, 7, 7), (64, 64, 3, 3), padding=1),
    _conv((100, 3, 31, 31), (25, 3, 3, 3), stride=2, padding=1),
    _pool("max_pool2d", (256, 6, 28, 28), naive.max_pool2d_forward, kernel_size=2),
    _pool("max_pool2d", (128, 64, 16, 16), naive.max_pool2d_forward, kernel_size=3, stride=2),
    _pool("avg_pool2d", (256, 6, 28, 28), naive.avg_pool2d_forward, kernel_size=2),
    _pool("avg_pool2d", (128, 64, 16, 16), naive.avg_pool2d_forward, kernel_size=3, stride=2),
    _batch_norm((256, 6, 28, 28)),
    _batch_norm((64, 32, 32, 32)),
    Case("linear", (Input("x", (256, 784), grad=False), Input("w", (512, 784)), Input("b", (512,)))),
    Case("sigmoid", (Input("x", (256, 6, 28, 28)),)),
    Case("relu", (Input("x", (256, 6, 28, 28)),)),
]


@dataclass
class Timer:
    """``time_calls`` with the run's window, minimum calls and warm-up."""

    window: float
    repeat: int
    warmup: int = 2

    def __call__(self, fn: Callable[..., object], setup: Callable[[], Any] | None = None) -> common.Timing:
        return common.time_calls(fn, setup=setup, window=self.window, min_calls=self.repeat, warmup=self.warmup)


def fwd_bwd(fn: Callable[..., Any], inputs: list[Any], leaves: list[Any], dout: Any, kwargs: dict[str, Any],
            timer: Timer) -> tuple[common.Timing, common.Timing]:
    """(forward, backward) timings of ``fn(*inputs, **kwargs)``; works for npgrad and torch tensors alike."""
    def forward() -> Any:
        return fn(*inputs, **kwargs)

    def fresh_forward() -> Any:
        for leaf in leaves:
            leaf.grad = None
        return forward()

    return timer(forward), timer(lambda out: out.backward(dout), setup=fresh_forward)


def case_inputs(case: Case, index: int) -> tuple[list[np.ndarray], np.random.Generator]:
    """The arrays of case number ``index``, and the generator to draw its ``dout`` from: the same in every process."""
    rng = np.random.default_rng([SEED, index])
    return case.arrays(rng), rng


def measure_npgrad(case: Case, index: int, timer: Timer, naive_timer: Timer, naive_batch: int) -> dict[str, list[float]]:
    arrays, rng = case_inputs(case, index)
    inputs = [a if i.grad is None else npgrad.Tensor(a, requires_grad=i.grad) for i, a in zip(case.inputs, arrays)]
    leaves = [t for i, t in zip(case.inputs, inputs) if i.grad]
    op = getattr(F, case.op)
    with npgrad.no_grad():
        dout = rng.standard_normal(op(*inputs, **case.kwargs).shape).astype(np.float32)
    fwd, bwd = fwd_bwd(op, inputs, leaves, dout, case.kwargs, timer)
    result = {"fwd_samples_s": fwd.samples, "bwd_samples_s": bwd.samples}
    if case.naive is not None:  # the loop forward and the vectorized one (no gradient recording) on a small batch
        small = case.with_batch(naive_batch)
        arrays = small.arrays(rng)
        tensors = [npgrad.Tensor(a) for a in arrays]
        result["naive_samples_s"] = naive_timer(lambda: small.naive(*arrays, **small.kwargs)).samples
        with npgrad.no_grad():
            result["small_fwd_samples_s"] = naive_timer(lambda: op(*tensors, **small.kwargs)).samples
    return result


def measure_torch(torch: Any, case: Case, index: int, timer: Timer) -> dict[str, list[float]]:
    arrays, rng = case_inputs(case, index)
    inputs = [torch.tensor(a, requires_grad=bool(i.grad)) for i, a in zip(case.inputs, arrays)]
    leaves = [t for i, t in zip(case.inputs, inputs) if i.grad]
    op = getattr(torch.nn.functional, case.op)
    with torch.no_grad():
        dout = torch.from_numpy(rng.standard_normal(tuple(op(*inputs, **case.kwargs).shape)).astype(np.float32))
    fwd, bwd = fwd_bwd(op, inputs, leaves, dout, case.kwargs, timer)
    return {"fwd_samples_s": fwd.samples, "bwd_samples_s": bwd.samples}


def run_worker(framework: str, cases: list[Case], timer: Timer, naive_timer: Timer, naive_batch: int) -> list[dict]:
    """Every case's samples for one framework, measured in this process."""
    if framework == "npgrad":
        return [measure_npgrad(case, i, timer, naive_timer, naive_batch) for i, case in enumerate(cases)]
    torch = common.import_torch()
    if torch is None:
        raise SystemExit("bench_ops: torch is not installed")
    return [measure_torch(torch, case, i, timer) for i, case in enumerate(cases)]


def spawn_worker(framework: str, args: argparse.Namespace) -> list[dict]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", framework, "--threads", str(common.THREADS),
               "--window", str(args.window), "--repeat", str(args.repeat)]
    command += ["--quick"] * args.quick
    done = subprocess.run(command, capture_output=True, text=True, env=common.worker_env(framework))
    if done.returncode != 0:
        raise SystemExit(f"bench_ops: the {framework} worker failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_ms(samples: list[float]) -> float:
    return 1e3 * statistics.median(samples)


def table_row(case: Case, ours: dict[str, list[float]], theirs: dict[str, list[float]] | None) -> dict[str, Any]:
    row: dict[str, Any] = {"op": case.op, "shape": case.label(),
                           "npgrad_fwd_ms": median_ms(ours["fwd_samples_s"]), "npgrad_bwd_ms": median_ms(ours["bwd_samples_s"])}
    if theirs is not None:
        row["torch_fwd_ms"], row["torch_bwd_ms"] = median_ms(theirs["fwd_samples_s"]), median_ms(theirs["bwd_samples_s"])
        row["ratio"] = (row["torch_fwd_ms"] + row["torch_bwd_ms"]) / (row["npgrad_fwd_ms"] + row["npgrad_bwd_ms"])
    if "naive_samples_s" in ours:
        row["naive_fwd_ms"] = median_ms(ours["naive_samples_s"])
        row["npgrad_small_fwd_ms"] = median_ms(ours["small_fwd_samples_s"])
        row["naive_speedup"] = row["naive_fwd_ms"] / row["npgrad_small_fwd_ms"]
    row["samples_s"] = {"npgrad": ours, **({"torch": theirs} if theirs is not None else {})}
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_arguments(parser, window=1.0)
    parser.add_argument("--repeat", type=int, default=5, help="at least this many timed calls per measurement (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: batch {QUICK_BATCH} (naive: {QUICK_NAIVE_BATCH}), {QUICK_CALLS} calls, no window")
    parser.add_argument("--worker", choices=("npgrad", "torch"),
                        help="internal: measure every case with one framework and print one JSON line")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.window < 0:
        parser.error("--repeat must be positive and --window non-negative")
    window, repeat = (0.0, min(args.repeat, QUICK_CALLS)) if args.quick else (args.window, args.repeat)
    naive_batch = QUICK_NAIVE_BATCH if args.quick else NAIVE_BATCH
    cases = [c.with_batch(QUICK_BATCH) for c in CASES] if args.quick else CASES
    if args.worker:
        timer = Timer(window, repeat, warmup=1 if args.quick else 2)
        naive_timer = Timer(window, min(repeat, 3), warmup=1)  # the loop kernels are slow: fewer calls
        print(json.dumps(run_worker(args.worker, cases, timer, naive_timer, naive_batch)))
        return

    with_torch = importlib.util.find_spec("torch") is not None
    machine = common.machine_info()
    settings = {"window_s": window, "repeat": repeat, "threads": common.THREADS, "quick": args.quick,
                "naive_batch": naive_batch, "dtype": "float32"}
    print("# npgrad vs PyTorch CPU: operators (float32)\n")
    print(common.format_machine(machine))
    print(f"median per-call ms over a {window:g} s window (at least {repeat} calls, after warm-up), one process per "
          f"framework; fwd with gradient recording; bwd = the backward call alone, after a fresh untimed forward; "
          f"naive = loop forward at batch {naive_batch}; PyTorch with the default malloc (common.worker_env)"
          + ("" if with_torch else "; PyTorch not installed") + "\n", flush=True)
    ours = spawn_worker("npgrad", args)
    theirs = spawn_worker("torch", args) if with_torch else [None] * len(cases)
    rows = [table_row(case, o, t) for case, o, t in zip(cases, ours, theirs)]

    headers = ["op", "shape", "npgrad fwd ms", "PyTorch fwd ms", "npgrad bwd ms", "PyTorch bwd ms",
               "ratio PyTorch/npgrad (fwd+bwd)", f"naive fwd ms (N={naive_batch})", f"npgrad fwd ms (N={naive_batch})",
               "vectorized speed-up"]
    body = [[r["op"], r["shape"], common.fmt(r["npgrad_fwd_ms"]), common.fmt(r.get("torch_fwd_ms")),
             common.fmt(r["npgrad_bwd_ms"]), common.fmt(r.get("torch_bwd_ms")), common.fmt(r.get("ratio")),
             common.fmt(r.get("naive_fwd_ms")), common.fmt(r.get("npgrad_small_fwd_ms"), 3),
             common.fmt(r.get("naive_speedup"), 0) + ("x" if "naive_speedup" in r else "")] for r in rows]
    print(common.markdown_table(headers, body, text_columns=2))
    common.finish_report(machine, args.json, settings, rows)


if __name__ == "__main__":
    main()
