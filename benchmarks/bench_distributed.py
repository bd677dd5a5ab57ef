"""Data-parallel training throughput on MPI: 1 and 2 ranks (1 BLAS thread each) against 1 process with 2 threads.

    python benchmarks/bench_distributed.py [--models lenet_bn resnet18] [--batch 64] [--steps 10] [--json PATH]

For each model, a training step (zero_grad, forward, cross-entropy, backward, SGD momentum step)
on a fixed random 28x28 batch of ``--batch`` images *in total*, timed as the median of ``--steps`` steps
(after 2 warm-up steps; a fixed count, since the ranks must run the same number of collectives):

* ``1 x 1``: one process, one BLAS thread, the whole batch;
* ``1 x 2``: one process, two BLAS threads, the whole batch (what the machine gives one process);
* ``2 x 1 overlap``: ``mpiexec -n 2``, one thread each, half the batch each, `DistributedDataParallel`
  with SyncBatchNorm, each bucket's Iallreduce started as its gradients complete;
* ``2 x 1 after``: the same with ``overlap=False`` (every bucket reduced after the backward);
* ``2 x 1 no comm``: the ceiling: two independent single-thread processes side by side, half the batch
  each, plain model, no communication at all (timed while both run: each keeps stepping until the other
  has finished its timed steps). Its speed-up is what two cores of this machine can give the 2-rank
  step at all (shared memory bandwidth and caches, smaller GEMMs); the ``2 x 1`` rows lose the rest
  to communication and synchronisation.

``allreduce ms`` is a blocking allreduce of all the gradients (one flat float32 buffer, the
bytes DDP moves per step) timed alone, on the 2 ranks: the communication a step pays without
overlap. Speed-up is images/s against ``1 x 1``. Each configuration runs in its own process(es).
"""

from __future__ import annotations

import common  # first: pins the BLAS thread count before NumPy loads

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = {"lenet_bn": {}, "resnet18": {"stem": "imagenet"}}  # resnet18: bench_models.py's configuration
CONFIGS = [("1 x 1", 1, 1, True), ("1 x 2", 1, 2, True), ("2 x 1 overlap", 2, 1, True), ("2 x 1 after", 2, 1, False),
           ("2 x 1 no comm", 2, 1, None)]  # overlap None: independent processes, no MPI


def _wait_for_files(paths: list[Path]) -> None:
    while not all(path.exists() for path in paths):
        time.sleep(0.001)


def worker(model_name: str, batch: int, overlap: bool, steps: int, side_by_side: str | None = None) -> dict[str, Any]:
    """One process's row. ``side_by_side`` ("DIR:RANK:COUNT"): one of COUNT independent processes (no MPI) that
    start timing together and keep stepping until all have finished, synchronised by files in DIR."""
    import numpy as np

    import npgrad
    from npgrad import models, nn, optim

    world, rank = 1, 0
    if side_by_side is not None:
        folder, me, count = side_by_side.rsplit(":", 2)
        world, rank = int(count), int(me)
    elif int(os.environ.get("PMI_SIZE", "1")) > 1:
        import npgrad.distributed as dist

        dist.init_process_group()
        world, rank = dist.get_world_size(), dist.get_rank()
    npgrad.manual_seed(0)
    model = models.create(model_name, in_channels=1, num_classes=10, image_size=28, **MODELS[model_name])
    grad_numel = sum(p.numel() for p in model.parameters())
    if world > 1 and side_by_side is None:
        from npgrad.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(model), overlap=overlap)
    rng = np.random.default_rng(rank)
    x = npgrad.Tensor(rng.random((batch // world, 1, 28, 28), dtype=np.float32))
    y = rng.integers(0, 10, batch // world)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    if side_by_side is not None:
        for _ in range(2):  # warm-up, then start timing together
            step()
        others = [Path(folder) / f"{kind}-{r}" for kind in ("ready", "done") for r in range(world)]
        (Path(folder) / f"ready-{rank}").touch()
        _wait_for_files(others[:world])
        step_s = common.time_calls(step, window=0, min_calls=steps, warmup=0).median
        (Path(folder) / f"done-{rank}").touch()
        while not all(path.exists() for path in others[world:]):  # keep the other process company
            step()
        return {"model": model_name, "world": world, "threads": common.THREADS, "overlap": None, "batch": batch,
                "step_ms": 1e3 * step_s, "img_per_s": batch / world / step_s, "grad_mb": 4 * grad_numel / 2**20}
    step_s = common.time_calls(step, window=0, min_calls=steps).median
    row = {"model": model_name, "world": world, "threads": common.THREADS, "overlap": overlap, "batch": batch,
           "step_ms": 1e3 * step_s, "img_per_s": batch / step_s, "grad_mb": 4 * grad_numel / 2**20}
    if world > 1:
        import npgrad.distributed as dist

        flat = np.zeros(grad_numel, np.float32)
        row["allreduce_ms"] = common.time_calls(lambda: dist.all_reduce(flat, op="mean"), window=0, min_calls=20).median_ms
        row["buckets"] = len(model.bucket_sizes)
    return row if rank == 0 else {}


def run_config(model_name: str, world: int, threads: int, overlap: bool | None, args: argparse.Namespace) -> dict[str, Any]:
    argv = [os.path.abspath(__file__), "--worker", model_name, "--threads", str(threads), "--batch", str(args.batch),
            "--steps", str(args.steps)] + ([] if overlap else ["--no-overlap"])
    if overlap is None:
        return run_side_by_side(argv, world)
    if world > 1:
        from npgrad.distributed import mpiexec_command

        command = mpiexec_command(world, argv)
    else:
        command = [sys.executable, *argv]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_side_by_side(argv: list[str], count: int) -> dict[str, Any]:
    """``count`` independent worker processes at once: the row of the slowest step, img/s of all together."""
    with tempfile.TemporaryDirectory() as folder:
        jobs = [subprocess.Popen([sys.executable, *argv, "--side-by-side", f"{folder}:{r}:{count}"], stdout=subprocess.PIPE,
                                 text=True, env=dict(os.environ)) for r in range(count)]
        outputs = [job.communicate()[0] for job in jobs]
    if any(job.returncode for job in jobs):
        raise SystemExit(f"a side-by-side worker failed (exit statuses {[job.returncode for job in jobs]})")
    rows = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    return {**max(rows, key=lambda r: r["step_ms"]), "img_per_s": sum(r["img_per_s"] for r in rows),
            "step_ms_each": [r["step_ms"] for r in rows]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_arguments(parser, window=None)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration (default 10)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=64, help="global batch (split over the ranks)")
    parser.add_argument("--worker", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--no-overlap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--side-by-side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        row = worker(args.worker, args.batch, not args.no_overlap, args.steps, args.side_by_side)
        if row:
            print(json.dumps(row))
        return

    print(common.format_machine(common.machine_info()))
    print(f"global batch {args.batch}, 28x28, float32, SGD momentum; median of {args.steps} steps\n")
    rows, table = [], []
    for name in args.models:
        base = None
        for label, world, threads, overlap in CONFIGS:
            row = run_config(name, world, threads, overlap, args)
            row["config"] = label
            rows.append(row)
            base = base or row["img_per_s"]
            table.append([name, label, common.fmt(row["step_ms"], 1), common.fmt(row["img_per_s"], 0),
                          common.fmt(row["img_per_s"] / base), common.fmt(row.get("allreduce_ms"), 1),
                          row.get("buckets", ""), common.fmt(row["grad_mb"], 1)])
    print(common.markdown_table(["model", "ranks x threads", "step ms", "img/s", "speed-up", "allreduce ms", "buckets",
                                 "grad MB"], table, text_columns=2))
    if args.json:
        common.write_json(args.json, common.machine_info(), vars(args), rows)


if __name__ == "__main__":
    main()
