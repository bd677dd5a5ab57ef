"""Data-parallel training throughput on MPI: 1 and 2 ranks (1 BLAS thread each) against 1 process with 2 threads.

    python benchmarks/bench_distributed.py [--models lenet_bn resnet18] [--batch 64] [--steps 10] [--rounds 3] [--json PATH]

For each model, a training step (zero_grad, forward, cross-entropy, backward, SGD momentum step)
on a fixed random 28x28 batch of ``--batch`` images *in total*, timed as the median of ``--steps`` steps
(after 2 warm-up steps; a fixed count, since the ranks must run the same number of collectives), and
each configuration ``--rounds`` times, all configurations in turn (the table gives the median and the
range; a speed-up is taken against the same round's ``1 x 1``):

* ``1 x 1``: one process, one BLAS thread, the whole batch;
* ``1 x 2``: one process, two BLAS threads, the whole batch (what the machine gives one process);
* ``2 x 1 overlap``: ``mpiexec -n 2``, one thread each, half the batch each, `DistributedDataParallel`
  with SyncBatchNorm, each bucket's Iallreduce started as its gradients complete;
* ``2 x 1 after``: the same with ``overlap=False`` (every bucket reduced after the backward);
* ``2 x 1 local BN``: ``2 x 1 overlap`` with each rank's batch norms left local (no SyncBatchNorm:
  not the global batch's statistics, but none of its two rendezvous per batch-norm layer and step);
* ``2 x 1 no comm``: the ceiling: two independent single-thread processes side by side, half the batch
  each, plain model, no communication at all (timed while both run: each keeps stepping until the other
  has finished its timed steps). Its speed-up is what two cores of this machine can give the 2-rank
  step at all (shared memory bandwidth and caches, smaller GEMMs); the ``2 x 1`` rows lose the rest
  to communication and synchronisation.

``allreduce ms`` is a blocking allreduce of all the gradients (one flat float32 buffer, the
bytes DDP moves per step) timed alone, on the 2 ranks: the communication a step pays without
overlap. Speed-up is images/s against ``1 x 1``. Each configuration runs in its own process(es).

The cost model for many nodes, printed after the table, takes the ``1 x 1`` run as one node's
compute (``--batch`` images per node on one core) and, from the same steps, the bucket timeline:
for each of DistributedDataParallel's buckets (its 25 MiB rule, in reduction order), how long the
step still runs after the bucket's last gradient is complete (median over the steps; this
includes the optimizer step, which DDP cannot overlap either). A ring allreduce of s bytes over N
nodes takes ``2(N-1)/N * s / bandwidth + 2(N-1) * LATENCY_S``; one link reduces the buckets one
after another, each starting when it is complete and the previous one has finished. The exposed
communication is what is still running when the compute ends; efficiency is
``compute / (compute + exposed)``, without overlap ``compute / (compute + all allreduces)``.
SyncBatchNorm adds two small collectives per batch-norm layer and step (an all_gather forward, an
allreduce backward) that nothing overlaps; they are latency-bound, ``ceil(log2 N) * LATENCY_S``
each (recursive doubling), and the ``+ SyncBN`` column adds them to the overlapped step.
Larger per-node batches scale the compute and the timeline linearly (measured at ``--batch`` only).
"""

from __future__ import annotations

import common  # first: pins the BLAS thread count before NumPy loads

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = {"lenet_bn": {}, "resnet18": {"stem": "imagenet"}}  # resnet18: bench_models.py's configuration
# (label, processes, BLAS threads, mode); the modes of 2 processes: DDP reducing each bucket as it completes
# ("overlap") or after the backward ("after"), without SyncBatchNorm ("local-bn"), or no MPI at all ("no-comm").
CONFIGS = [("1 x 1", 1, 1, "overlap"), ("1 x 2", 1, 2, "overlap"), ("2 x 1 overlap", 2, 1, "overlap"),
           ("2 x 1 after", 2, 1, "after"), ("2 x 1 local BN", 2, 1, "local-bn"), ("2 x 1 no comm", 2, 1, "no-comm")]
MODES = sorted({mode for *_, mode in CONFIGS})
# The cost model (module docstring): nodes, link speeds, per-message latency, the per-node batches it is printed for.
MODEL_NODES = (4, 16, 64)
MODEL_LINKS_GBIT = (10, 100)
LATENCY_S = 50e-6
MODEL_BATCH_FACTORS = (1, 2, 4)


def _wait_for_files(paths: list[Path]) -> None:
    while not all(path.exists() for path in paths):
        time.sleep(0.001)


def worker(model_name: str, batch: int, mode: str, steps: int, side_by_side: str | None = None) -> dict[str, Any]:
    """One process's row. ``side_by_side`` ("DIR:RANK:COUNT"): one of COUNT independent processes (no MPI) that
    start timing together and keep stepping until all have finished, synchronised by files in DIR."""
    import numpy as np

    import npgrad
    from npgrad import models, nn, optim
    from npgrad.nn.normalization import _BatchNorm

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

        if mode != "local-bn":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = DistributedDataParallel(model, overlap=mode != "after")
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
        return {"model": model_name, "world": world, "threads": common.THREADS, "mode": mode, "batch": batch,
                "step_ms": 1e3 * step_s, "img_per_s": batch / world / step_s, "grad_mb": 4 * grad_numel / 2**20}
    timeline = _BucketTimeline(model) if world == 1 else None
    step_s = common.time_calls(timeline.timed(step) if timeline else step, window=0, min_calls=steps).median
    row = {"model": model_name, "world": world, "threads": common.THREADS, "mode": mode, "batch": batch,
           "step_ms": 1e3 * step_s, "img_per_s": batch / step_s, "grad_mb": 4 * grad_numel / 2**20}
    if timeline is not None:
        row.update(timeline.summary(warmup=2))
        row["batch_norm_layers"] = sum(isinstance(m, _BatchNorm) for m in model.modules())  # what SyncBatchNorm replaces
    if world > 1:
        import npgrad.distributed as dist

        flat = np.zeros(grad_numel, np.float32)
        row["allreduce_ms"] = common.time_calls(lambda: dist.all_reduce(flat, op="mean"), window=0, min_calls=20).median_ms
        row["buckets"] = len(model.bucket_sizes)
    return row if rank == 0 else {}


class _BucketTimeline:
    """Per step: when each of DistributedDataParallel's buckets would be complete, before the step ends."""

    def __init__(self, model: Any):
        from npgrad.nn.parallel import _buckets

        params = [p for p in model.parameters() if p.requires_grad][::-1]  # DDP's order
        buckets = _buckets(params, 25 * 2**20)
        self.bucket_of = {id(p): k for k, bucket in enumerate(buckets) for p in bucket.params}
        self.bucket_bytes = [bucket.flat.nbytes for bucket in buckets]
        self.steps: list[dict[str, Any]] = []
        for p in params:
            p.register_post_accumulate_grad_hook(self._ready)

    def _ready(self, p: Any) -> None:
        self.steps[-1]["ready"][self.bucket_of[id(p)]] = time.perf_counter()  # the bucket's last gradient wins

    def timed(self, step: Any) -> Any:
        def record() -> None:
            self.steps.append({"ready": [0.0] * len(self.bucket_bytes)})
            step()
            self.steps[-1]["end"] = time.perf_counter()
        return record

    def summary(self, warmup: int) -> dict[str, Any]:
        """Medians over the timed steps: each bucket's lead (ms the step still runs after it is complete), its bytes."""
        import numpy as np

        leads = np.array([[s["end"] - r for r in s["ready"]] for s in self.steps[warmup:]])  # (steps, buckets)
        return {"bucket_lead_ms": [float(v) for v in 1e3 * np.median(leads, axis=0)], "bucket_bytes": self.bucket_bytes}


def ring_allreduce_s(nbytes: float, nodes: int, gbit_per_s: float) -> float:
    """Seconds for a ring allreduce of ``nbytes`` over ``nodes`` nodes: 2(N-1) steps of 1/N of the data each."""
    return 2 * (nodes - 1) / nodes * nbytes * 8 / (gbit_per_s * 1e9) + 2 * (nodes - 1) * LATENCY_S


def exposed_s(compute_s: float, leads_s: list[float], bucket_bytes: list[int], nodes: int, gbit_per_s: float,
              overlap: bool = True) -> float:
    """Communication still running when the step's compute ends; the buckets reduced in order on one link."""
    link_free = 0.0  # time from the step's start at which the link has finished the previous bucket
    for lead, nbytes in zip(leads_s, bucket_bytes):
        ready = compute_s - lead if overlap else compute_s
        link_free = max(link_free, ready) + ring_allreduce_s(nbytes, nodes, gbit_per_s)
    return max(0.0, link_free - compute_s)


def sync_batch_norm_s(layers: int, nodes: int) -> float:
    """SyncBatchNorm's collectives per step: two per layer, each ceil(log2 N) latency-bound rounds."""
    return 2 * layers * math.ceil(math.log2(nodes)) * LATENCY_S


def _efficiency(row: dict[str, Any], factor: float, nodes: int, gbit: float, overlap: bool,
                sync_bn: bool = False) -> float:
    """Predicted compute / (compute + exposed) at ``factor`` times the measured per-node batch."""
    compute = factor * row["step_ms"] / 1e3
    leads = [factor * lead / 1e3 for lead in row["bucket_lead_ms"]]
    exposed = exposed_s(compute, leads, row["bucket_bytes"], nodes, gbit, overlap)
    if sync_bn:
        exposed += sync_batch_norm_s(row["batch_norm_layers"], nodes)
    return compute / (compute + exposed)


def _batch_for(row: dict[str, Any], efficiency: float, nodes: int, gbit: float, overlap: bool) -> int:
    """The smallest per-node batch (images) predicted to reach ``efficiency``: bisection on the batch scale."""
    low, high = 1 / row["batch"], 1.0
    while _efficiency(row, high, nodes, gbit, overlap) < efficiency:
        low, high = high, 2 * high
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (low, middle) if _efficiency(row, middle, nodes, gbit, overlap) >= efficiency else (middle, high)
    return max(1, round(high * row["batch"]))


def cost_model_tables(row: dict[str, Any]) -> str:
    """The predictions for MODEL_NODES x MODEL_LINKS_GBIT from one 1 x 1 row with its bucket timeline."""
    table = []
    for factor in MODEL_BATCH_FACTORS:
        for nodes in MODEL_NODES:
            cells = [factor * row["batch"], nodes]
            for gbit in MODEL_LINKS_GBIT:
                allreduce = sum(ring_allreduce_s(nbytes, nodes, gbit) for nbytes in row["bucket_bytes"])
                cells += [common.fmt(1e3 * allreduce, 1)] + [
                    f"{100 * _efficiency(row, factor, nodes, gbit, overlap, sync_bn):.1f}%"
                    for overlap, sync_bn in ((False, False), (True, False), (True, True))]
            table.append(cells)
    headers = ["img/node", "nodes"] + [f"{label} {gbit} Gbit/s" for gbit in MODEL_LINKS_GBIT
                                        for label in ("allreduce ms", "no overlap", "overlap", "overlap + SyncBN")]
    thresholds = [[nodes, gbit] + [_batch_for(row, target, nodes, gbit, overlap)
                                   for target in (0.9, 0.5) for overlap in (False, True)]
                  for gbit in MODEL_LINKS_GBIT for nodes in MODEL_NODES]
    return (common.markdown_table(headers, table, text_columns=0) + "\n\nPer-node batch (images) for 90% efficiency, "
            "and below which communication dominates (efficiency < 50%):\n\n" + common.markdown_table(
                ["nodes", "Gbit/s", "90%, no overlap", "90%, overlap", "50%, no overlap", "50%, overlap"],
                thresholds, text_columns=0))


def run_config(model_name: str, world: int, threads: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    argv = [os.path.abspath(__file__), "--worker", model_name, "--threads", str(threads), "--batch", str(args.batch),
            "--steps", str(args.steps), "--mode", mode]
    if mode == "no-comm":
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
    parser.add_argument("--rounds", type=int, default=3, help="runs of every configuration, alternating (default 3)")
    parser.add_argument("--worker", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default="overlap", help=argparse.SUPPRESS)
    parser.add_argument("--side-by-side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        row = worker(args.worker, args.batch, args.mode, args.steps, args.side_by_side)
        if row:
            print(json.dumps(row))
        return

    machine = common.machine_info()
    print(common.format_machine(machine))
    print(f"global batch {args.batch}, 28x28, float32, SGD momentum; median of {args.steps} steps per run; "
          f"{args.rounds} rounds of all configurations in turn\n")
    rows, table, cost_models = [], [], []
    for name in args.models:
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label, *_ in CONFIGS}
        for round_ in range(args.rounds):
            for label, world, threads, mode in CONFIGS:
                row = run_config(name, world, threads, mode, args)
                rows.append({**row, "config": label, "round": round_})
                runs[label].append(row)
        base = [run["img_per_s"] for run in runs["1 x 1"]]
        for label, samples in runs.items():
            step_ms = [run["step_ms"] for run in samples]
            speedups = [run["img_per_s"] / one for run, one in zip(samples, base)]  # each against its round's 1 x 1
            allreduce = [run["allreduce_ms"] for run in samples if "allreduce_ms" in run]
            table.append([name, label, f"{statistics.median(step_ms):.1f} ({min(step_ms):.1f}-{max(step_ms):.1f})",
                          common.fmt(args.batch / statistics.median(step_ms) * 1e3, 0),
                          f"{statistics.median(speedups):.2f} ({min(speedups):.2f}-{max(speedups):.2f})",
                          common.fmt(statistics.median(allreduce), 1) if allreduce else "",
                          samples[0].get("buckets", ""), common.fmt(samples[0]["grad_mb"], 1)])
        one = min(runs["1 x 1"], key=lambda run: abs(run["step_ms"] - statistics.median(r["step_ms"] for r in runs["1 x 1"])))
        buckets = ", ".join(f"{nbytes / 2**20:.1f} MiB {lead:.0f} ms" for nbytes, lead in
                            zip(one["bucket_bytes"], one["bucket_lead_ms"]))
        cost_models.append(f"\n{name}: cost model for many nodes. One node = the median 1 x 1 run: {one['step_ms']:.1f} ms "
                           f"for {one['batch']} images on one core; each gradient bucket, and the ms its step still ran "
                           f"after the bucket was complete: {buckets}. {LATENCY_S * 1e6:.0f} us per message; efficiency "
                           f"= compute / (compute + exposed allreduce)\n\n{cost_model_tables(one)}")
    print(common.markdown_table(["model", "ranks x threads", "step ms, median (min-max)", "img/s", "speed-up (min-max)",
                                 "allreduce ms", "buckets", "grad MB"], table, text_columns=2))
    print("\n".join(cost_models))
    common.finish_report(machine, args.json, vars(args), rows)


if __name__ == "__main__":
    main()
