"""Smoke tests of the benchmark scripts: each runs for a moment in a subprocess and writes sane JSON.

No speed is asserted: only that the scripts run, and that their output has the expected keys
and positive numbers, so that they cannot rot while the kernels change. One thread, the
bundled Fashion-MNIST subset, tiny batches and windows.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import npgrad
from npgrad.data.datasets.bundled import BUNDLED_DIR

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
HAS_TORCH = importlib.util.find_spec("torch") is not None
MACHINE_KEYS = {"cpu", "logical_cores", "blas", "python", "numpy", "npgrad", "torch", "threads", "date"}


def run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--threads", "1", *args],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def read_report(path: Path) -> dict:
    report = json.loads(path.read_text())
    assert set(report) == {"machine", "settings", "rows"}
    assert MACHINE_KEYS <= set(report["machine"])
    assert report["machine"]["threads"] == 1
    return report


def test_bench_models_worker_prints_one_json_line():
    out = run("bench_models.py", "--worker", "npgrad", "mlp", "--window", "0", "--batch-size", "8", "--num-batches", "2",
              "--data", str(BUNDLED_DIR))
    result = json.loads(out.strip())
    assert result["framework"] == "npgrad" and result["model"] == "mlp" and result["batch_size"] == 8
    assert result["params"] == 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10
    for key in ("train_img_per_s", "infer_img_per_s", "peak_rss_train_mb", "peak_rss_mb"):
        assert result[key] > 0, key
    assert len(result["train_samples_s"]) >= 3 and min(result["train_samples_s"]) > 0
    assert len(result["infer_samples_s"]) >= 3 and min(result["infer_samples_s"]) > 0


def test_bench_models_driver_table_and_json(tmp_path):
    frameworks = ["npgrad", "torch"] if HAS_TORCH else ["npgrad"]
    out = run("bench_models.py", "--models", "mlp", "--rounds", "1", "--window", "0", "--batch-size", "8",
              "--num-batches", "1", "--data", str(BUNDLED_DIR), "--json", str(tmp_path / "models.json"),
              "--frameworks", *frameworks, env={"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576"})
    assert "| mlp" in out and "import npgrad" in out and "load average at end" in out
    report = read_report(tmp_path / "models.json")
    # The machine's OpenBLAS overrides are removed for every worker, and the header says so.
    assert report["machine"]["removed_blas_overrides"] == {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576"}
    assert "removed from the environment: OPENBLAS_CORETYPE=Haswell" in out
    assert report["settings"]["import_npgrad_s"] > 0
    (row,) = report["rows"]
    assert row["model"] == "mlp" and row["params"] > 0 and row["busy_rounds"] in (0, 1)
    for framework in frameworks:
        assert row[framework]["train_img_per_s"] > 0 and row[framework]["infer_img_per_s"] > 0
        assert row[framework]["train_img_per_s_min"] <= row[framework]["train_img_per_s"] <= row[framework]["train_img_per_s_max"]
        assert row["rounds"][framework][0]["other_load_cores"] >= 0
        assert row[framework]["peak_rss_train_mb"] > 0
        assert len(row["rounds"][framework]) == 1
    if HAS_TORCH:
        assert row["torch"]["params"] == row["params"]
        assert row["train_ratio"] > 0 and row["infer_ratio"] > 0 and isinstance(row["rss_ok"], bool)


@pytest.mark.parametrize("model", ["mlp", "lenet", "lenet_bn", "three_layer_convnet", "resnet18"])
def test_peer_models_mirror_the_zoo(model, tmp_path):
    """MyGrad's version of each benchmarked model has npgrad's parameter count and runs a training step."""
    pytest.importorskip("mygrad")
    import numpy as np

    import npgrad

    batches = tmp_path / "batches.npz"
    rng = np.random.default_rng(0)
    np.savez(batches, x=rng.random((8, 1, 28, 28), dtype=np.float32), y=rng.integers(0, 10, 8))
    result = json.loads(run("peers.py", "--worker", "mygrad", model, "--window", "0", "--batch-size", "8",
                            "--batches-file", str(batches)).strip())
    options = {"stem": "imagenet"} if model == "resnet18" else {}
    expected = npgrad.models.create(model, in_channels=1, num_classes=10, image_size=28, **options).num_parameters()
    assert result["params"] == expected
    assert result["train_img_per_s"] > 0 and result["infer_img_per_s"] > 0


OTHER_LOAD_CHECK = """
import common  # before NumPy, as every benchmark script

# The arithmetic, with the machine's counters replaced: (busy CPU time - our own) per wall second.
readings = iter([
    (100.0, 10.0, 0.0), (103.0, 11.0, 1.0),  # 3 s busy, 1 s of it ours, in 1 s: 2 cores of other programs
    (100.0, 10.0, 0.0), (100.5, 11.0, 1.0),  # our counter ran ahead of the machine's (clock granularity): 0
])


def fake(i):
    return lambda *args: current[i]


for name, i in (("_busy_cpu_seconds", 0), ("_own_cpu_seconds", 1)):
    setattr(common, name, fake(i))
common.time.perf_counter = fake(2)
for _ in range(2):
    current = next(readings)
    meter = common.OtherLoad().start()
    current = next(readings)
    print(meter.stop())
"""


def test_other_load_meter_counts_other_programs_only():
    done = subprocess.run([sys.executable, "-c", OTHER_LOAD_CHECK], cwd=BENCHMARKS, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert list(map(float, done.stdout.split())) == [2.0, 0.0]


def test_bench_ops_quick(tmp_path):
    out = run("bench_ops.py", "--quick", "--json", str(tmp_path / "ops.json"))
    report = read_report(tmp_path / "ops.json")
    assert report["settings"]["quick"] is True
    rows = report["rows"]
    assert {r["op"] for r in rows} == {"conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "linear", "sigmoid", "relu"}
    for row in rows:
        assert row["op"] in out
        assert row["npgrad_fwd_ms"] > 0 and row["npgrad_bwd_ms"] > 0, row["shape"]
        if HAS_TORCH:
            assert row["torch_fwd_ms"] > 0 and row["torch_bwd_ms"] > 0 and row["ratio"] > 0, row["shape"]
        if row["op"] in ("conv2d", "max_pool2d", "avg_pool2d"):
            assert row["naive_fwd_ms"] > 0 and row["naive_speedup"] > 0, row["shape"]


def test_accuracy_one_short_epoch(tmp_path):
    out = run("accuracy.py", "--models", "lenet", "--epochs", "1", "--train-limit", "256", "--data", str(BUNDLED_DIR),
              "--json", str(tmp_path / "accuracy.json"))
    assert "epoch  1/1" in out
    (row,) = read_report(tmp_path / "accuracy.json")["rows"]
    assert row["model"] == "lenet" and row["framework"] == "npgrad"
    assert 0 <= row["final_test_acc"] <= 1 and row["mean_epoch_s"] > 0
    (epoch,) = row["epochs"]
    assert epoch["train_loss"] > 0


def test_profile_ops_tables_and_json(tmp_path):
    out = run("profile_ops.py", "--models", "lenet_bn", "--steps", "1", "--batch-size", "8", "--num-batches", "1",
              "--data", str(BUNDLED_DIR), "--json", str(tmp_path / "profile.json"))
    assert "## lenet_bn: training step" in out and "## lenet_bn: inference" in out
    (row,) = read_report(tmp_path / "profile.json")["rows"]
    ours = row["npgrad"]
    # Every op the model runs is timed: conv, batch norm, sigmoid, pooling, linear, the loss, forward and backward.
    for op in ("Conv2d.forward", "Conv2d.backward", "AvgPool2d.backward", "Linear.forward", "CrossEntropy.forward"):
        assert ours["train"]["ops_ms"][op] > 0, op
    assert "Conv2d.backward" not in ours["infer"]["ops_ms"] and ours["infer"]["ops_ms"]["Conv2d.forward"] > 0
    assert sum(ours["train"]["ops_ms"].values()) <= ours["train"]["step_ms"]
    if HAS_TORCH:
        assert row["torch"]["train"]["step_ms"] > 0 and row["torch"]["train"]["ops_ms"]


@pytest.mark.mpi
def test_bench_distributed_table_and_json(tmp_path, mpirun):
    out = run("bench_distributed.py", "--models", "lenet_bn", "--steps", "3", "--batch", "8", "--rounds", "1",
              "--json", str(tmp_path / "d.json"))
    report = read_report(tmp_path / "d.json")
    rows = report["rows"]
    assert [r["config"] for r in rows] == ["1 x 1", "1 x 2", "2 x 1 overlap", "2 x 1 after", "2 x 1 local BN", "2 x 1 no comm"]
    assert [r["world"] for r in rows] == [1, 1, 2, 2, 2, 2] and [r["threads"] for r in rows] == [1, 2, 1, 1, 1, 1]
    assert [r["mode"] for r in rows[2:]] == ["overlap", "after", "local-bn", "no-comm"]
    assert all(r["img_per_s"] > 0 and r["batch"] == 8 for r in rows)
    assert rows[2]["allreduce_ms"] > 0 and rows[2]["buckets"] == 1 and "| lenet_bn | 2 x 1 overlap" in out
    ceiling = rows[5]  # two processes side by side: img/s of both, the slower one's step
    assert "allreduce_ms" not in ceiling and len(ceiling["step_ms_each"]) == 2
    assert ceiling["step_ms"] == max(ceiling["step_ms_each"])
    assert ceiling["img_per_s"] == pytest.approx(sum(4e3 / ms for ms in ceiling["step_ms_each"]))
    # the cost model: the 1 x 1 run's bucket timeline (DDP's one bucket for lenet_bn), then the predictions
    one = rows[0]
    assert len(one["bucket_bytes"]) == len(one["bucket_lead_ms"]) == 1
    assert one["bucket_bytes"][0] == 4 * sum(p.numel() for p in npgrad.models.create("lenet_bn").parameters())
    assert 0 < one["bucket_lead_ms"][0] < one["step_ms"]
    assert "lenet_bn: cost model for many nodes" in out
    ring_ms = [1e3 * (2 * 3 / 4 * one["bucket_bytes"][0] * 8 / (gbit * 1e9) + 2 * 3 * 50e-6) for gbit in (10, 100)]
    table = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in out.splitlines() if line.startswith("|")]
    cells = next(cells for cells in table if cells[:2] == ["8", "4"])  # 8 images per node, 4 nodes
    # per link: allreduce ms, then efficiency without overlap, with overlap, with overlap and SyncBatchNorm
    assert [float(cells[2]), float(cells[6])] == pytest.approx(ring_ms, abs=0.05)
    step = one["step_ms"]
    for link in (0, 1):
        none, overlap, sync_bn = (float(cell.rstrip("%")) for cell in cells[3 + 4 * link:6 + 4 * link])
        assert none <= overlap <= 100 and sync_bn < overlap
    assert float(cells[3].rstrip("%")) == pytest.approx(100 * step / (step + ring_ms[0]), abs=0.05)  # all exposed
    assert one["batch_norm_layers"] == 4  # lenet_bn: two BatchNorm2d, two BatchNorm1d
    sync_ms = 1e3 * 2 * 4 * 2 * 50e-6  # two collectives per layer, ceil(log2 4) = 2 latency-bound rounds each
    overlap, sync_bn = (float(cells[i].rstrip("%")) for i in (4, 5))
    assert 100 * step / sync_bn - 100 * step / overlap == pytest.approx(sync_ms, abs=0.002 * step + 0.01)  # cells: 0.1%
    assert "Per-node batch (images) for 90% efficiency" in out
