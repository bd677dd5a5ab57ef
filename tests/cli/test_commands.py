"""End-to-end tests of the ``npgrad`` command on tiny datasets generated in tmp_path."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from npgrad import optim
from npgrad.cli import main
from npgrad.data.datasets import write_idx
from npgrad.train import load_checkpoint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ["--epochs", "2", "--batch-size", "8", "--no-progress", "--model", "mlp", "--model-arg", "hidden_dims=[16]"]


# ----------------------------------------------------------------------------- tiny datasets
def _images(n, channels, size, classes, seed):
    """uint8 (n, channels, size, size) images whose brightness says the class, and the labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.integers(0, 60, (n, channels, size, size)) + (y * (190 // (classes - 1)))[:, None, None, None]
    return x.astype(np.uint8), y


def make_idx(root, n_train=48, n_test=20):
    root.mkdir()
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        x, y = _images(n, 1, 28, 10, seed)
        write_idx(root / f"{prefix}-images-idx3-ubyte", x[:, 0])
        write_idx(root / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
    return root


def make_cifar(root):
    root.mkdir()
    for name, n, seed in [(f"data_batch_{i}.bin", 8, i) for i in range(1, 6)] + [("test_batch.bin", 10, 9)]:
        x, y = _images(n, 3, 32, 10, seed)
        records = np.concatenate([y.astype(np.uint8)[:, None], x.reshape(n, -1)], axis=1)
        (root / name).write_bytes(records.tobytes())
    return root


def _write_png(path, image):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.transpose(1, 2, 0) if image.shape[0] == 3 else image[0]).save(path)


def make_folder(root, splits=("training_set", "test_set"), classes=("cats", "dogs"), n=16, size=12, broken=False):
    for s, split in enumerate(splits):
        x, y = _images(n, 3, size, len(classes), seed=s)
        for i, (image, label) in enumerate(zip(x, y)):
            _write_png(root / split / classes[label] / f"{i:03d}.png", image)
    (root / splits[0] / classes[0] / "notes.txt").write_text("not an image")  # ignored: not an image name
    if broken:
        (root / splits[0] / classes[0] / "broken.png").write_bytes(b"not a png")  # an error unless --skip-bad-images
    return root


def make_csv(root, n=24, size=12):
    """train.csv (image,label) with images in images/, and test.csv (image) with images in test/."""
    x, y = _images(n, 3, size, 3, seed=0)
    names = ["ant", "bee", "cat"]
    rows = []
    for i, (image, label) in enumerate(zip(x, y)):
        _write_png(root / "images" / f"{i}.png", image)
        rows.append({"image": f"images/{i}.png", "label": names[label]})
    with open(root / "train.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["image", "label"])
        writer.writeheader()
        writer.writerows(rows)
    x, _ = _images(6, 3, size, 3, seed=1)
    for i, image in enumerate(x):
        _write_png(root / "test" / f"t{i}.png", image)
    # values are repeated exactly as written, even when they are spelled unusually
    (root / "test.csv").write_text("image\n" + "\n".join(["./test/t0.png"] + [f"test/t{i}.png" for i in range(1, 6)]) + "\n")
    return root


# ---------------------------------------------------------------------------------- helpers
def _run_dir(out):
    runs = sorted(p for p in Path(out).iterdir() if p.is_dir())
    assert len(runs) == 1, runs
    return runs[0]


def _train(capsys, out, *args):
    code = main(["train", "--out", str(out), *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return _run_dir(out), captured.out + captured.err


def _check_run_folder(run, epochs, classes):
    config = json.loads((run / "config.json").read_text())
    assert config["classes"] == classes and config["num_classes"] == len(classes)
    assert {"model", "data", "optimizer", "scheduler", "training", "preprocessing", "image_size", "in_channels"} <= set(config)
    with open(run / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr"} <= set(rows[0])
    assert all(0 <= float(r["val_acc"]) <= 1 for r in rows)
    assert json.loads((run / "history.json").read_text())[-1]["epoch"] == epochs
    assert (run / "curves.png").read_bytes()[:8] == PNG_MAGIC
    last = load_checkpoint(run / "last.safetensors")
    assert last["epoch"] == epochs and last["config"] == config
    assert {"model", "optimizer", "scheduler", "rng", "history", "best"} <= set(last)
    best = load_checkpoint(run / "best.safetensors")
    accs = [float(r["val_acc"]) for r in rows]
    assert best["epoch"] == accs.index(max(accs)) + 1
    return config


def _error(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 2, (captured.out, captured.err)
    lines = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err
    return lines[-1]


# ------------------------------------------------------------------------------------ train
def test_train_defaults_on_the_bundled_subset(tmp_path, capsys):
    run, out = _train(capsys, tmp_path, "--epochs", "1", "--limit-batches", "2", "--no-progress")
    assert run.name.startswith("lenet_bn-fashion-mnist-small-")
    assert f"run folder: {run}" in out
    assert "epoch 1/1  train loss" in out and "top5" in out and "img/s" in out
    assert "best val accuracy" in out
    assert "test      256 images, best.safetensors (epoch 1)" in out  # --limit-batches 2 limits the test report too
    val_acc = load_checkpoint(run / "last.safetensors")["history"][0]["val_acc"]
    assert (val_acc * 256) == pytest.approx(round(val_acc * 256))  # and validation: 2 batches of 128
    config = _check_run_folder(run, 1, ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                        "Sneaker", "Bag", "Ankle boot"])
    assert config["model"]["name"] == "lenet_bn" and config["in_channels"] == 1 and config["image_size"] == 28
    log = (run / "train.log").read_text()
    assert log.count("epoch 1/1") == 1 and log.startswith("run folder:") and "done in" in log


@pytest.mark.parametrize("kind", ["mnist", "cifar10"])
def test_train_eval_on_builtin_file_formats(tmp_path, capsys, kind):
    data = make_idx(tmp_path / "data") if kind == "mnist" else make_cifar(tmp_path / "data")
    run, out = _train(capsys, tmp_path / "runs", "--dataset", kind, "--data-dir", str(data), "--augment", *FAST)
    config = _check_run_folder(run, 2, [str(d) for d in range(10)] if kind == "mnist" else
                               ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
    assert config["augmentation"]["flip"] is (kind != "mnist")  # mirrored digits are not digits
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{kind} (test): {20 if kind == 'mnist' else 10} images" in out  # the test split, kept out of model selection
    assert (run / "confusion_matrix.png").read_bytes()[:8] == PNG_MAGIC


def test_binary_folder_with_logistic_regression_then_eval_and_predict(tmp_path, capsys):
    data = make_folder(tmp_path / "catsdogs", broken=True)
    argv = ["--dataset", f"folder:{data}", "--model", "logistic_regression", "--image-size", "12", "--epochs", "3",
            "--batch-size", "8", "--lr", "0.5", "--no-progress"]
    line = _error(capsys, "train", "--out", str(tmp_path / "refused"), *argv)
    assert line.startswith(f"npgrad: error: 1 of 17 images of {data / 'training_set'} cannot be decoded (first: ")
    assert line.endswith("pass --skip-bad-images to train without them") and not (tmp_path / "refused").exists()
    run, train_out = _train(capsys, tmp_path / "runs", *argv, "--skip-bad-images")
    config = _check_run_folder(run, 3, ["cats", "dogs"])
    # model selection on a split of training_set; test_set only for the final report, with best.safetensors
    assert "14 train / 2 val / 16 test images (1 unreadable skipped)" in train_out and "warning" not in train_out
    best_epoch = load_checkpoint(run)["epoch"]
    assert f"test      16 images, best.safetensors (epoch {best_epoch}): loss" in train_out
    assert config["in_channels"] == 3 and config["data"]["val_split"] == 0.1 and config["data"]["validation"] == "split"
    best = load_checkpoint(run)
    assert best["model"]["1.weight"].shape == (1, 3 * 12 * 12)  # one logit: binary

    assert main(["eval", str(run), "--dataset", f"folder:{data}"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "top-5" not in out
    table = [line.split() for line in out.splitlines() if line.startswith(("cats", "dogs"))]
    assert [row[0] for row in table] == ["cats", "dogs"] and all(row[3] == "8" for row in table)

    assert "images have 1 channel(s) but the model was trained on 3" in _error(
        capsys, "eval", str(run), "--dataset", "fashion-mnist-small")
    assert "does not exist" in _error(capsys, "predict", str(run), "--input", str(data), "--out", str(tmp_path / "no" / "x.csv"))
    submission = tmp_path / "submission.csv"
    assert main(["predict", str(run), "--input", str(data / "test_set"), "--out", str(submission)]) == 0
    with open(submission, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "label"]
    expected = [f"cats/{i:03d}.png" for i in range(0, 16, 2)] + [f"dogs/{i:03d}.png" for i in range(1, 16, 2)]
    assert [r[0] for r in rows[1:]] == expected  # paths relative to the folder, non-images skipped
    accuracy = np.mean([r[1] == r[0].split("/")[0] for r in rows[1:]])
    test_acc = float(re.search(r"test      16 images, .* acc (\S+)", train_out).group(1))
    assert accuracy == pytest.approx(test_acc, abs=1e-4)  # the final report is best.safetensors on test_set


def test_flat_folder_uses_a_val_split(tmp_path, capsys):
    data = make_folder(tmp_path / "flowers", splits=("",), classes=("a", "b", "c"), n=30)
    run, out = _train(capsys, tmp_path / "runs", "--dataset", f"folder:{data}", "--val-split", "0.2", "--channels", "1",
                      "--image-size", "10", *FAST)
    _check_run_folder(run, 2, ["a", "b", "c"])
    assert "24 train / 6 val images" in out and "1x10x10 -> 3 classes" in out
    assert main(["eval", str(run)]) == 0
    assert "(validation): 6 images" in capsys.readouterr().out


def test_csv_dataset_train_and_predict_test_csv(tmp_path, capsys):
    data = make_csv(tmp_path / "kaggle")
    run, out = _train(capsys, tmp_path / "runs", "--dataset", f"csv:{data / 'train.csv'}", "--image-size", "12", *FAST)
    assert "csv:" in out and "22 train / 2 val images" in out  # --val-split 0.1 by default
    _check_run_folder(run, 2, ["ant", "bee", "cat"])
    submission = tmp_path / "out" / "submission.csv"
    submission.parent.mkdir()
    assert main(["predict", str(run / "last.safetensors"), "--input", str(data / "test.csv"), "--out", str(submission)]) == 0
    rows = list(csv.reader(submission.open()))
    assert rows[0] == ["image", "label"]
    assert [r[0] for r in rows[1:]] == ["./test/t0.png"] + [f"test/t{i}.png" for i in range(1, 6)]
    assert all(r[1] in ("ant", "bee", "cat") for r in rows[1:])
    argv = ["predict", str(run), "--input", str(data / "test.csv"), "--out", str(submission), "--no-progress"]
    assert main([*argv, "--proba", "--columns", "id,category"]) == 0
    with_proba = list(csv.reader(submission.open()))
    assert with_proba[0] == ["id", "category", "ant", "bee", "cat"]
    proba = np.array([[float(v) for v in r[2:]] for r in with_proba[1:]])
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    assert [r[:2] for r in with_proba[1:]] == rows[1:] and [["ant", "bee", "cat"][i] for i in proba.argmax(1)] == [
        r[1] for r in rows[1:]]
    assert "expected two different column names" in capsys.readouterr().err if main([*argv, "--columns", "x"]) == 2 else False
    # the same CSV with images elsewhere: --image-root
    moved = tmp_path / "moved"
    moved.mkdir()
    (data / "test").rename(moved / "test")
    argv = ["predict", str(run), "--input", str(data / "test.csv"), "--image-root", str(moved), "--out", str(submission)]
    assert main(argv) == 0
    assert len(list(csv.reader(submission.open()))) == 7


def test_ctrl_c_then_resume_equals_an_uninterrupted_run(tmp_path, capsys, monkeypatch):
    args = [*FAST, "--epochs", "3", "--limit-batches", "4", "--augment"]
    full, _ = _train(capsys, tmp_path / "full", *args)

    step, calls = optim.SGD.step, []

    def step_then_ctrl_c(self):
        step(self)
        calls.append(1)
        if len(calls) == 6:  # epoch 2, step 2
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(optim.SGD, "step", step_then_ctrl_c)
    assert main(["train", "--out", str(tmp_path / "part"), *args]) == 130
    captured = capsys.readouterr()
    part = _run_dir(tmp_path / "part")
    assert "interrupted at epoch 2, step 2" in captured.out
    assert f"continue with: npgrad train --resume {part}" in captured.err
    monkeypatch.undo()

    assert main(["train", "--resume", str(part), "--no-progress"]) == 0
    assert f"resuming {part / 'last.safetensors'} at epoch 2, step 3" in capsys.readouterr().out
    a, b = load_checkpoint(full / "last.safetensors"), load_checkpoint(part / "last.safetensors")
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key], err_msg=key)
    strip = [{k: v for k, v in r.items() if k not in ("time_s", "img_per_s")} for r in a["history"]]
    assert strip == [{k: v for k, v in r.items() if k not in ("time_s", "img_per_s")} for r in b["history"]]
    assert len((part / "history.csv").read_text().splitlines()) == 4

    assert _error(capsys, "train", "--resume", str(part), "--lr", "0.1") == (
        "npgrad: error: --lr cannot be changed when resuming: the run keeps its settings "
        "(only --epochs, --dataset, --data-dir and --image-root may be given with --resume)")
    assert "already completed its 3 epochs" in _error(capsys, "train", "--resume", str(part))
    assert main(["train", "--resume", str(part), "--epochs", "4", "--no-progress"]) == 0  # train longer
    assert "epoch 4/4" in capsys.readouterr().out


def test_absurd_learning_rate_stops_cleanly(tmp_path, capsys):
    code = main(["train", "--out", str(tmp_path), *FAST, "--lr", "1e30", "--limit-batches", "3"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "npgrad: training stopped: the loss became nan at epoch 1, step" in captured.err
    assert "RuntimeWarning" not in captured.err


# --------------------------------------------------------------------------- models and info
def test_models_and_info(tmp_path, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "lenet_bn" in out and "44,878" in out and "logistic_regression (logistic)" in out
    assert "options (--model-arg): blocks_per_stage=(2, 2, 2, 2), channels=(64, 128, 256, 512), stem='auto'" in out
    assert "default optimizer: adam lr 0.001 (weight decay 0)" in out  # lenet's
    assert "stem: 'imagenet' is the paper's stem" in out and "width_ratio=N divides the channel counts" in out
    run, _ = _train(capsys, tmp_path, *FAST, "--epochs", "1", "--limit-batches", "1")
    assert main(["info", str(run)]) == 0
    out = capsys.readouterr().out
    assert "model       mlp (hidden_dims=[16])" in out and "1 epochs completed" in out and "contents" in out


def test_the_command_runs_as_a_module():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    result = subprocess.run([sys.executable, "-m", "npgrad", "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and "train" in result.stdout and "predict" in result.stdout
    result = subprocess.run([sys.executable, "-m", "npgrad", "train", "--model", "nope"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("npgrad: error: unknown model 'nope'; available: alexnet")


# ------------------------------------------------------------------------------ user errors
def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint")
    folder = make_folder(tmp_path / "pets", n=4, size=8)
    cases = {
        ("train", "--model", "resnet99"): "unknown model 'resnet99'; available:",
        ("train", "--dataset", "imagenet"): "unknown dataset 'imagenet'; use fashion-mnist-small, fashion-mnist, mnist",
        ("train", "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere")): f"data folder {tmp_path / 'nowhere'} not found",
        ("train", "--dataset", f"folder:{tmp_path / 'nothing'}"): "not found; expected",
        ("train", "--dataset", f"folder:{folder}", "--model", "lenet_bn", "--image-size", "8"):
            "lenet_bn: image size 8x8 is too small",
        ("train", "--out", str(a_file)): "is a file, not a folder",
        ("train", "--out", str(a_file / "runs")): "cannot create the run folder",
        ("train", "--val-split", "1.5"): "--val-split must be in [0, 1)",
        ("train", "--momentum", "0.5", "--optimizer", "adam"): "--momentum does not apply to the adam optimizer",
        ("train", "--channels", "3"): "--channels applies to folder: and csv: datasets",
        ("train", "--model", "mlp", "--model-arg", "depth=3"): "got unknown option(s) depth",
        ("eval", str(tmp_path / "missing")): "checkpoint not found",
        ("eval", str(tmp_path)): "no checkpoint in folder",
        ("info", str(garbage)): "cannot read checkpoint",
        ("predict", str(garbage), "--input", str(tmp_path)): "cannot read checkpoint",
    }
    for argv, message in cases.items():
        line = _error(capsys, *argv)
        assert line.startswith("npgrad: error: ") and message in line, (argv, line)
    # argparse's own errors: status 2, one line saying where the help is (no usage block)
    assert main(["train", "--epochs", "0"]) == 2
    assert capsys.readouterr().err == ("npgrad train: error: argument --epochs: expected a positive integer, got 0 "
                                       "(see 'npgrad train --help')\n")
    assert main([]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert main(["train", "--lr-decay", "3"]) == 2  # an unknown option: the subcommand's help
    assert capsys.readouterr().err == "npgrad train: error: unrecognized arguments: --lr-decay 3 (see 'npgrad train --help')\n"


@pytest.mark.mpi
def test_nproc_2_trains_like_one_process_and_resumes_on_one_and_the_other_way(tmp_path, capfd, monkeypatch):
    """2 ranks x half the batch = 1 process (history, weights); a checkpoint of 2 ranks resumes (and evaluates)
    on 1 without MPI, one of 1 resumes on 2: both finish like 2 epochs on one process."""
    pytest.importorskip("mpi4py")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                                      os.environ.get("PYTHONPATH", "")]))
    common = ["--model", "lenet_bn", "--batch-size", "32", "--limit-batches", "3", "--scheduler", "none", "--no-progress"]
    one, _ = _train(capfd, tmp_path / "one", "--epochs", "2", *common)
    assert main(["train", "--out", str(tmp_path / "two"), "--epochs", "1", "--nproc", "2", *common]) == 0
    output = capfd.readouterr()
    assert output.out.count("epoch 1/1") == 1, output.out  # rank 0 alone prints
    assert "batch 32 (2 processes x 16)" in output.out
    two = _run_dir(tmp_path / "two")
    assert main(["train", "--resume", str(two), "--epochs", "2"]) == 0  # the second epoch on one process
    _train(capfd, tmp_path / "three", "--epochs", "1", *common)
    three = _run_dir(tmp_path / "three")
    assert main(["train", "--resume", str(three), "--epochs", "2", "--nproc", "2"]) == 0  # the second on two
    assert "batch 32 (2 processes x 16)" in capfd.readouterr().out
    records = [json.loads((run / "history.json").read_text()) for run in (one, two, three)]
    checkpoints = [load_checkpoint(run / "last.safetensors") for run in (one, two, three)]
    assert [c["processes"] for c in checkpoints] == [1, 1, 2]
    for resumed, checkpoint in zip(records[1:], checkpoints[1:]):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            np.testing.assert_allclose([r[key] for r in resumed], [r[key] for r in records[0]], rtol=2e-4, err_msg=key)
        for key, value in checkpoints[0]["model"].items():
            np.testing.assert_allclose(checkpoint["model"][key], value, rtol=1e-3, atol=1e-5, err_msg=key)
    assert main(["eval", str(two)]) == 0


# `npgrad train` (3 epochs of 2 steps) on the ranks of an mpiexec job, where rank 1 goes wrong in
# step 3 (epoch 2, step 1): it hangs (a sleep standing for an endless loop or a dead disk), gets a
# Ctrl-C, two, a Ctrl-C while the ranks agree whether to stop, or computes a NaN loss.
FAULTY_TRAIN = """
    import signal, sys, time
    import numpy as np
    import npgrad
    import npgrad.distributed as dist
    from npgrad.cli import main
    from npgrad.train import loop
    out, fault = sys.argv[1], sys.argv[2]
    train_step, any_rank, steps = loop.train_step, loop.any_rank, []

    def faulty_train_step(model, optimizer, criterion, x, y):
        steps.append(1)
        if len(steps) == 3 and dist.get_rank() == 1:
            if fault == "hang":
                time.sleep(600)
            elif fault == "sigint":
                signal.raise_signal(signal.SIGINT)
            elif fault == "sigint-twice":  # the second Ctrl-C aborts this rank at once
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)
            elif fault == "nan":
                x = npgrad.Tensor(np.full_like(x.data, np.nan))
        return train_step(model, optimizer, criterion, x, y)

    def any_rank_interrupted(flag):  # the Ctrl-C lands after the flag was read, before the ranks agree
        if (fault == "sigint-during-sync" and len(steps) == 3 and dist.get_rank() == 1
                and sys._getframe(1).f_code.co_name != "train_step"):
            signal.raise_signal(signal.SIGINT)
        return any_rank(flag)

    loop.train_step, loop.any_rank = faulty_train_step, any_rank_interrupted
    import matplotlib.backends.backend_agg, matplotlib.figure  # loaded now, not in rank 0's first epoch end
    sys.exit(main(["train", "--out", out, "--epochs", "3", "--limit-batches", "2", "--batch-size", "8", "--no-progress",
                   "--model", "mlp", "--model-arg", "hidden_dims=[16]"]))
"""


def _faulty_run(mpirun, tmp_path, fault):
    """The finished mpiexec job, its wall time, and the run folder's last.safetensors."""
    start = time.monotonic()
    done = mpirun(FAULTY_TRAIN, argv=[str(tmp_path), fault], check=False)
    return done, time.monotonic() - start, load_checkpoint(_run_dir(tmp_path) / "last.safetensors")


@pytest.mark.mpi
def test_a_stuck_rank_times_out_and_the_job_ends_with_the_last_checkpoint_intact(mpirun, tmp_path, monkeypatch):
    # 10 s: long enough that a loaded machine's slow epoch end (rank 0 writes the checkpoint and
    # the curves while rank 1 waits) is not taken for a hang (2 s was, once, under a load of 9)
    monkeypatch.setenv("NPGRAD_DIST_TIMEOUT", "10")
    done, elapsed, checkpoint = _faulty_run(mpirun, tmp_path, "hang")
    assert done.returncode != 0
    # the watchdog looks every second: it notices 10-11 s into the wait
    assert re.search(r"npgrad.distributed: rank 0 of 2: all_reduce\(op='max'\) timed out after 1[01]\.\d s "
                     r"\(timeout 0:00:10,", done.stderr), done.stderr
    assert "aborting the job" in done.stderr and "epoch 1/3" in done.stdout and "epoch 2/3" not in done.stdout
    assert elapsed < 60, elapsed
    assert checkpoint["epoch"] == 1 and checkpoint["step"] == 0 and len(checkpoint["history"]) == 1  # epoch 1's, whole


@pytest.mark.mpi
@pytest.mark.parametrize("fault, step", [("sigint", 1), ("sigint-during-sync", 2)])
def test_ctrl_c_on_one_rank_stops_every_rank_at_the_same_step_with_a_checkpoint(mpirun, tmp_path, fault, step):
    done, elapsed, checkpoint = _faulty_run(mpirun, tmp_path, fault)
    assert done.returncode == 130, done.stderr
    assert done.stderr.count("Ctrl-C: stopping after this step") == 1  # rank 1's, the only one interrupted
    assert f"interrupted at epoch 2, step {step}: resume from" in done.stdout + done.stderr
    assert done.stderr.count("stopped by Ctrl-C; continue with: npgrad train --resume") == 1  # rank 0 alone
    assert (checkpoint["epoch"], checkpoint["step"]) == (1, step)  # saved at the step every rank stopped at
    assert elapsed < 40, elapsed


@pytest.mark.mpi
def test_two_ctrl_c_on_one_rank_abort_the_job_with_the_last_checkpoint_intact(mpirun, tmp_path):
    done, elapsed, checkpoint = _faulty_run(mpirun, tmp_path, "sigint-twice")
    # MPI_Abort(..., 130): mpiexec exits with that code; MPICH's own "MPI_Abort" line is not always printed
    assert done.returncode == 130, done.stderr
    assert (checkpoint["epoch"], checkpoint["step"]) == (1, 0)  # the epoch before, not a half-done step
    assert elapsed < 40, elapsed  # rank 0, waiting in the step's collectives, did not hang


@pytest.mark.mpi
def test_a_nan_loss_on_one_rank_stops_every_rank(mpirun, tmp_path):
    done, elapsed, checkpoint = _faulty_run(mpirun, tmp_path, "nan")
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("npgrad: training stopped: the loss became nan at epoch 2, step 1") == 1
    assert checkpoint["epoch"] == 1 and checkpoint["step"] == 0
    assert all(np.isfinite(value).all() for value in checkpoint["model"].values())
    assert elapsed < 40, elapsed


@pytest.mark.mpi
def test_ctrl_c_to_npgrad_train_nproc_stops_the_ranks_cleanly(tmp_path):
    """SIGINT to the launching process (what a Ctrl-C in its terminal sends it) reaches the ranks as one Ctrl-C."""
    pytest.importorskip("mpi4py")
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "npgrad", "train", "--nproc", "2", "--out", str(tmp_path), "--epochs", "30",
               "--limit-batches", "150", *FAST[2:]]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        for line in job.stdout:  # rank 0's first epoch line: both ranks are training
            lines.append(line)
            if re.match(r"epoch +1/30", line):
                break
        start = time.monotonic()
        job.send_signal(signal.SIGINT)
        output = "".join(lines) + job.communicate(timeout=60)[0]
    finally:
        job.kill()  # only if still running after a failure
    assert job.returncode == 130, output
    assert time.monotonic() - start < 20
    assert "stopped by Ctrl-C; continue with: npgrad train --resume" in output and "Traceback" not in output, output
    checkpoint = load_checkpoint(_run_dir(tmp_path) / "last.safetensors")
    assert 1 <= checkpoint["epoch"] < 30 and checkpoint["processes"] == 2


def test_scheduler_arg_errors_and_a_read_only_run_folder_are_one_line(tmp_path, capsys, monkeypatch):
    argv = ["train", "--out", str(tmp_path), *FAST, "--limit-batches", "1"]
    assert _error(capsys, *argv, "--scheduler-arg", "foo=1") == (
        "npgrad: error: --scheduler cosine: unknown argument 'foo' of the cosine schedule (CosineAnnealingLR); "
        "it takes T_max, eta_min")
    assert "a --scheduler-arg has a value of the wrong type (T_max='ten')" in _error(
        capsys, *argv, "--scheduler-arg", "T_max=ten")
    run, _ = _train(capsys, tmp_path, *FAST, "--limit-batches", "1")
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse the way the OS would
        import npgrad._fileio

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(npgrad._fileio.tempfile, "mkstemp", refuse)
        expected = f"npgrad: error: cannot resume in {run}: cannot write its config.json (Permission denied)"
    else:
        run.chmod(0o555)
        expected = f"npgrad: error: cannot resume in {run}: the run folder is not writable"
    try:
        assert _error(capsys, "train", "--resume", str(run), "--epochs", "3") == expected
    finally:
        run.chmod(0o755)


def test_resume_with_more_epochs_replans_the_schedule(tmp_path, capsys):
    args = [*FAST, "--limit-batches", "2"]
    four, _ = _train(capsys, tmp_path / "four", *args, "--epochs", "4")
    two, _ = _train(capsys, tmp_path / "two", *args, "--epochs", "2")
    assert main(["train", "--resume", str(two), "--epochs", "4", "--no-progress"]) == 0
    assert "schedule is re-planned for 4 epochs" in capsys.readouterr().err
    lrs = [r["lr"] for r in load_checkpoint(two / "last.safetensors")["history"]]
    expected = [r["lr"] for r in load_checkpoint(four / "last.safetensors")["history"]]
    assert lrs[2:] == pytest.approx(expected[2:]) and lrs[2] > lrs[3] > 0  # the 4-epoch cosine, not past its end


@pytest.mark.parametrize("model, loss_below", [("logistic_regression", 0.8), ("lenet", 2.0)])
def test_each_model_trains_with_its_default_optimizer(tmp_path, capsys, model, loss_below):
    # 160 steps at the schedule's peak lr; sgd lr 0.1 momentum 0.9 left logistic regression at 1.31 and LeNet at 2.32
    run, out = _train(capsys, tmp_path, "--model", model, "--epochs", "2", "--limit-batches", "80", "--scheduler", "none",
                      "--no-progress")
    assert load_checkpoint(run / "last.safetensors")["history"][-1]["train_loss"] < loss_below, out


def test_run_folders_store_absolute_paths_and_resume_eval_take_the_moved_data(tmp_path, capsys, monkeypatch):
    make_folder(tmp_path / "pets", n=8, size=8)
    monkeypatch.chdir(tmp_path)
    run, _ = _train(capsys, "runs", "--dataset", "folder:pets", "--image-size", "8", *FAST)
    run = tmp_path / run
    data = json.loads((run / "config.json").read_text())["data"]
    assert data["dataset"] == f"folder:{tmp_path / 'pets'}"  # not relative to the working directory
    monkeypatch.chdir(run)
    assert main(["eval", ".", "--no-progress"]) == 0  # works from another working directory
    capsys.readouterr()
    (tmp_path / "pets").rename(tmp_path / "moved")
    assert main(["train", "--resume", ".", "--epochs", "3", "--dataset", "folder:../../moved", "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["dataset"] == f"folder:{tmp_path / 'moved'}"
    assert main(["eval", str(run), "--dataset", f"folder:{tmp_path / 'moved'}", "--no-progress"]) == 0
    assert "a resumed run keeps its dataset" in _error(capsys, "train", "--resume", ".", "--dataset", "mnist")


# ----------------------------------------------------------------------------------- export
def test_export_onnx_reproduces_predict_with_the_metadata(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from PIL import Image

    from npgrad.cli.session import load_for_inference
    from npgrad.data import transforms as T

    data = make_folder(tmp_path / "catsdogs")
    run, _ = _train(capsys, tmp_path / "runs", "--dataset", f"folder:{data}", "--model", "lenet_bn", "--image-size", "12",
                    "--epochs", "1", "--batch-size", "8", "--no-progress", "--model-arg", "padding=2")
    out = tmp_path / "model.onnx"
    assert main(["export", str(run), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["classes"]) == ["cats", "dogs"] and meta["in_channels"] == "3" and meta["image_size"] == "12"
    mean, std = np.array(json.loads(meta["mean"]), np.float32), np.array(json.loads(meta["std"]), np.float32)

    # A consumer with only the file: decode, scale, normalise with the metadata, run, argmax.
    files = sorted((data / "test_set").glob("*/*.png"))
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])
    x = ((pixels / np.float32(255) - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": x})[0]

    setup = load_for_inference(str(run))
    spec = setup.config.data_spec
    prepared = T.Compose([T.Resize(spec.image_size), T.ToFloat(), T.Normalize(spec.mean, spec.std)])(pixels)
    import npgrad

    with npgrad.no_grad():
        expected = setup.model(npgrad.Tensor(prepared)).data
    np.testing.assert_allclose(logits, expected, atol=1e-4)

    assert "unknown format '.pt'" in _error(capsys, "export", str(run), "--out", str(tmp_path / "model.pt"))
    assert "does not exist" in _error(capsys, "export", str(run), "--out", str(tmp_path / "no" / "m.onnx"))
    assert main(["export", str(run), "--out", str(tmp_path / "m20.onnx"), "--opset", "20"]) == 0
    assert onnx.load(str(tmp_path / "m20.onnx")).opset_import[0].version == 20


def test_train_warns_when_an_epoch_will_be_slow(tmp_path, capsys, monkeypatch):
    from npgrad.cli import session

    monkeypatch.setattr(session, "SLOW_EPOCH_S", 0.0)
    _, out = _train(capsys, tmp_path, *FAST, "--epochs", "1", "--limit-batches", "4")
    assert "npgrad: warning: one epoch (4 steps at" in out and "'npgrad models' lists smaller models" in out
