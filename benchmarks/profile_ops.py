"""Where a model's time goes, op by op: npgrad's Functions (forward and backward) and PyTorch's aten ops.

    python benchmarks/profile_ops.py [--models lenet ...] [--steps 20] [--batch-size 256] [--threads N] [--json PATH]

For each model of `bench_models.py` (same options, same pre-sliced Fashion-MNIST batches), one
worker subprocess per framework runs warm-up steps, then ``--steps`` timed training steps and
``--steps`` timed inference steps (eval mode, no gradient):

* npgrad: every `Function` subclass's ``forward`` and ``backward`` is wrapped with a timer for
  the worker's lifetime, so each row is one operator's own NumPy time (its kernel, not its
  inputs'), in ms per step; ``other`` is the rest of the step (autograd bookkeeping, the
  optimizer, Python).
* PyTorch: ``torch.profiler`` self CPU time per aten op, in ms per step (the profiler adds its
  own overhead to both its totals and its rows; the step times are measured without it).

The two op lists do not map one to one (PyTorch splits and names ops its own way), so the
script prints them side by side with each framework's step time: read it to find which
kernels of npgrad cost more than PyTorch's equivalent.
"""

from __future__ import annotations

import common  # first: pins the BLAS thread count before NumPy loads

import argparse
import collections
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

import bench_models

TOP = 12  # rows per framework and phase


def _timed(table: collections.Counter, key: str, fn: Any) -> staticmethod:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            table[key] += time.perf_counter() - start

    return staticmethod(wrapper)


def _instrument_npgrad(table: collections.Counter) -> None:
    """Wrap forward/backward of every Function subclass (recursively) with a timer adding into ``table``."""
    from npgrad.function import Function

    pending, seen = list(Function.__subclasses__()), set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending += cls.__subclasses__()
        for phase in ("forward", "backward"):
            if phase in cls.__dict__:
                setattr(cls, phase, _timed(table, f"{cls.__name__}.{phase}", cls.__dict__[phase].__func__
                                           if isinstance(cls.__dict__[phase], staticmethod) else cls.__dict__[phase]))


def _step_ms(fn: Any, count: int) -> float:
    """Mean ms per call of ``fn`` over ``count`` calls."""
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return 1e3 * (time.perf_counter() - start) / count


def _profile(steps: Any, step_count: int, op_times: Callable[[Any, int], tuple[dict[str, float], float | None]]
             ) -> dict[str, Any]:
    """Per phase (train, then infer), after 2 warm-up steps: ``op_times(fn, step_count)`` = (ms per op and step,
    and the ms per step of that same pass when the ops' timers cover it, else None: then the step time is
    measured in a pass of its own, without the profiler)."""
    result = {}
    for phase, fn in (("train", steps.train), ("infer", steps.infer)):
        if phase == "infer":
            steps.to_eval()
        for _ in range(2):
            fn()
        ops, same_pass_ms = op_times(fn, step_count)
        if same_pass_ms is None:
            step_ms, other_ms = _step_ms(fn, step_count), None
        else:  # the rest of the very steps the op timers saw
            step_ms, other_ms = same_pass_ms, same_pass_ms - sum(ops.values())
        result[phase] = {"step_ms": step_ms, "ops_ms": ops, "other_ms": other_ms}
    return result


def _npgrad_profile(steps: Any, step_count: int) -> dict[str, Any]:
    """Each Function's own time: its forward and backward wrapped with timers (they do not nest)."""
    table: collections.Counter = collections.Counter()
    _instrument_npgrad(table)

    def op_times(fn: Any, count: int) -> tuple[dict[str, float], float | None]:
        table.clear()
        total_ms = _step_ms(fn, count)
        return {key: 1e3 * seconds / count for key, seconds in table.items()}, total_ms

    return _profile(steps, step_count, op_times)


def _torch_profile(steps: Any, step_count: int) -> dict[str, Any]:
    """torch.profiler's self CPU time per aten op (the profiler's own overhead is in its rows, not in step_ms)."""
    import torch

    def op_times(fn: Any, count: int) -> tuple[dict[str, float], float | None]:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(count):
                fn()
        return {e.key: e.self_cpu_time_total / 1e3 / count for e in prof.key_averages()}, None

    return _profile(steps, step_count, op_times)


def run_worker(framework: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    with np.load(args.batches_file) as saved:
        batches = bench_models.split_batches(saved["x"], saved["y"], args.batch_size)
    if framework == "npgrad":
        return _npgrad_profile(bench_models.npgrad_steps(name, batches), args.steps)
    return _torch_profile(bench_models.torch_steps(name, batches), args.steps)


def _rows(profile: dict[str, Any], top: int) -> list[tuple[str, float]]:
    ranked = sorted(profile["ops_ms"].items(), key=lambda item: -item[1])
    rows = [(k, v) for k, v in ranked[:top] if v >= 0.005]
    rest = sum(v for _, v in ranked[top:])
    if rest:
        rows.append((f"({len(ranked) - top} more ops)", rest))
    if profile["other_ms"] is not None:
        rows.append(("other (autograd, optimizer, Python)", profile["other_ms"]))
    return rows


def side_by_side(ours: dict[str, Any], theirs: dict[str, Any] | None, phase: str) -> str:
    left = _rows(ours[phase], TOP)
    right = _rows(theirs[phase], TOP) if theirs else []
    headers = [f"npgrad op ({ours[phase]['step_ms']:.2f} ms/step)", "ms"]
    if theirs:
        headers += [f"PyTorch op ({theirs[phase]['step_ms']:.2f} ms/step)", "ms"]
    body = []
    for i in range(max(len(left), len(right))):
        line = [left[i][0], f"{left[i][1]:.2f}"] if i < len(left) else ["", ""]
        if theirs:
            line += [right[i][0], f"{right[i][1]:.2f}"] if i < len(right) else ["", ""]
        body.append(line)
    return common.markdown_table(headers, body, text_columns=len(headers))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(bench_models.MODELS), choices=list(bench_models.MODELS),
                        metavar="MODEL", help=f"models (default: all of {', '.join(bench_models.MODELS)})")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per phase (default 20)")
    parser.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")
    parser.add_argument("--num-batches", type=int, default=4, help="distinct pre-sliced batches (default 4)")
    common.add_data_argument(parser)
    common.add_common_arguments(parser, window=None)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "MODEL"), help="internal: profile one framework")
    parser.add_argument("--batches-file", help="internal: the driver's batches (.npz)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or args.num_batches < 1:
        parser.error("--steps, --batch-size and --num-batches must be positive")
    if args.worker:
        print(json.dumps(run_worker(*args.worker, args)))
        return

    frameworks = ["npgrad"] + (["torch"] if importlib.util.find_spec("torch") else [])
    machine = common.machine_info()
    x, y, description = bench_models.load_batches(args.data, args.batch_size, args.num_batches)
    print("# Per-op profile: npgrad Functions vs PyTorch aten ops (ms per step)\n")
    print(common.format_machine(machine))
    print(f"data: {len(x) // args.batch_size} batches of {args.batch_size} from {description}; {args.steps} timed steps "
          f"per phase after 2 warm-up steps; training step and inference as in bench_models.py\n", flush=True)
    rows = []
    with common.batches_file(x, y) as batches_file:
        for name in args.models:
            profiles = {}
            for framework in frameworks:
                command = [sys.executable, str(Path(__file__).resolve()), "--worker", framework, name,
                           "--batch-size", str(args.batch_size), "--steps", str(args.steps),
                           "--threads", str(common.THREADS), "--batches-file", batches_file]
                done = subprocess.run(command, capture_output=True, text=True, env=common.worker_env(framework))
                if done.returncode != 0:
                    raise SystemExit(f"profile_ops: the {framework} worker for {name} failed:\n{done.stderr.strip()}")
                profiles[framework] = json.loads(done.stdout.strip().splitlines()[-1])
            for phase, title in (("train", "training step"), ("infer", "inference")):
                print(f"## {name}: {title}\n")
                print(side_by_side(profiles["npgrad"], profiles.get("torch"), phase) + "\n")
            rows.append({"model": name, **profiles})
    common.finish_report(machine, args.json, {"steps": args.steps, "batch_size": args.batch_size}, rows)


if __name__ == "__main__":
    main()
