"""Checkpoints as hostile input to eval / predict / resume / info: one clear line, exit 2, nothing huge allocated."""

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from npgrad.cli import main
from npgrad.serialization import load, save

RUN_0_1 = Path(__file__).parent / "fixtures" / "run_v0_1"  # logistic regression, 1x28x28 -> 10 classes


@pytest.fixture
def run(tmp_path):
    return Path(shutil.copytree(RUN_0_1, tmp_path / "run"))


def _tamper(run, edit, name="best.safetensors"):
    """Rewrite ``run/name`` after ``edit(state)`` changed its contents in place."""
    state = load(run / name)
    edit(state)
    save(state, run / name)
    return run / name


def _error(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err, captured.err
    return captured.err.strip().splitlines()[-1]


@pytest.mark.parametrize(("where", "value", "message"), [
    (("image_size",), 60000, "its config's image_size 60000 is outside 1..2048"),
    (("model", "options"), {"input_dim": 10**9}, "its config's model option input_dim 1000000000 does not fit its weights"),
    (("in_channels",), 100000, "its config's in_channels 100000 does not fit its weights"),
])
def test_a_config_asking_for_a_huge_model_is_refused_before_building(run, capsys, where, value, message):
    def edit(state):
        node = state["config"]
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value
        if where == ("image_size",):
            node["preprocessing"]["image_size"] = value

    best, last = _tamper(run, edit), _tamper(run, edit, "last.safetensors")
    for checkpoint, argv in ((best, ("eval", best)), (best, ("predict", best, "--input", run)),
                             (last, ("train", "--resume", last))):
        line = _error(capsys, *argv)
        assert line.startswith(f"npgrad: error: checkpoint {checkpoint}: ") and message in line, line


def test_a_checkpoint_without_weights_is_refused(run, capsys):
    checkpoint = _tamper(run, lambda state: state.update(model={}))
    assert _error(capsys, "eval", checkpoint) == f"npgrad: error: checkpoint {checkpoint} holds no model weights"


def _set(key, value):
    return lambda state: state.update({key: value})


def _edit_model(state):
    state["model"]["1.weight"] = state["model"]["1.weight"][:, :100]


RESUME_CASES = {
    "wrong shape": (_edit_model, "'model' entry does not fit: Error(s) in loading state_dict for LogisticRegression: "
                                 "size mismatch "
                                 "for 1.weight"),
    "missing key": (lambda s: s["model"].pop("1.bias"), 'Missing key(s) in state_dict: "1.bias"'),
    "extra key": (lambda s: s["model"].update(extra=s["model"]["1.bias"]), 'Unexpected key(s) in state_dict: "extra"'),
    "optimizer state": (lambda s: s["optimizer"]["state"][0].update(momentum_buffer=s["model"]["1.bias"]),
                        "'optimizer' entry does not fit: SGD.load_state_dict: state 'momentum_buffer' of parameter 0 has "
                        "shape (10,)"),
    "optimizer groups": (lambda s: s["optimizer"].pop("param_groups"), "'optimizer' entry does not fit: missing 'param_groups'"),
    "rng": (_set("rng", {"bit_generator": "MT19937x"}), "'rng' entry does not fit"),
    "scheduler": (lambda s: s["scheduler"].update(T_max="3"), "'scheduler' entry does not fit: "
                                                               "CosineAnnealingLR.load_state_dict: 'T_max' must be like"),
    "scheduler keys": (lambda s: s["scheduler"].pop("base_lrs"), "CosineAnnealingLR.load_state_dict: the state does not "
                                                                 "fit this scheduler: missing ['base_lrs']"),
    "loader": (_set("loader", {"epoch": -1, "seed": 0}), "'loader' entry does not fit: DataLoader.load_state_dict: epoch must "
                                                         "be a non-negative integer, got -1"),
    "history": (_set("history", [1, 2]), "'history' entry does not fit: expected a list of per-epoch dicts"),
    "best": (_set("best", ["x"]), "'best' entry does not fit"),
    "negative epoch": (_set("epoch", -1), "its 'epoch' entry -1 is not a non-negative integer"),
    "text epoch": (_set("epoch", "abc"), "its 'epoch' entry 'abc' is not a non-negative integer"),
    "negative step": (_set("step", -2), "its 'step' entry -2 is not a non-negative integer"),
    "format version": (_set("format_version", "abc"), "format_version 'abc' is not a version number"),
    "config": (_set("config", None), "its 'config' entry is a NoneType, not a dict"),
}


@pytest.mark.parametrize("case", RESUME_CASES)
def test_a_damaged_checkpoint_cannot_be_resumed_one_line_exit_2(run, capsys, case):
    edit, message = RESUME_CASES[case]
    last = _tamper(run, edit, "last.safetensors")
    line = _error(capsys, "train", "--resume", last, "--no-progress")
    assert line.startswith("npgrad: error: ") and message in line, line
    assert str(last) in line or case == "loader"  # the loader state is applied when training starts


def test_a_full_disk_stops_training_with_one_line_and_no_temporaries(tmp_path):
    import resource

    def limit_file_size():  # writes past 20 kB fail with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [sys.executable, "-m", "npgrad", "train", "--out", str(tmp_path), "--model", "logistic", "--epochs", "1",
            "--limit-batches", "1", "--no-progress"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, preexec_fn=limit_file_size)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (run,) = tmp_path.iterdir()
    assert result.stderr.strip().splitlines()[-1] == f"npgrad: error: cannot write {run / 'last.safetensors'}: File too large"
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]


def _unprivileged():
    """A preexec_fn under which permission bits apply: root normally ignores them (CAP_DAC_OVERRIDE), so it drops
    that capability and CAP_DAC_READ_SEARCH from the bounding set before exec (prctl PR_CAPBSET_DROP, Linux); for
    other users there is nothing to drop. Skips when root cannot drop them."""
    if os.geteuid() != 0:
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2

    def drop():
        for cap in (cap_dac_override, cap_dac_read_search):
            if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o555)
        code = "import os, sys; sys.exit(os.access(sys.argv[1], os.W_OK))"
        probe = subprocess.run([sys.executable, "-c", code, folder], preexec_fn=drop, capture_output=True)
        os.chmod(folder, 0o755)
    if probe.returncode != 0:
        pytest.skip("cannot drop root's permission override here")
    return drop


def _train_cli(*args, wait=True):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [sys.executable, "-m", "npgrad", "train", *map(str, args), "--no-progress"]
    if wait:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, preexec_fn=_unprivileged())
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_unprivileged())


def _one_line_error(result):
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_a_read_only_output_folder_stops_the_run_and_keeps_the_checkpoint(tmp_path):
    import time

    small = ["--model", "logistic", "--limit-batches", "30", "--batch-size", "16"]
    out = tmp_path / "readonly"
    out.mkdir(mode=0o555)
    out.chmod(0o555)
    line = _one_line_error(_train_cli("--out", out, "--epochs", "1", *small))
    assert line.startswith(f"npgrad: error: cannot create the run folder {out}/logistic-") and "Permission denied" in line
    assert not list(out.iterdir())

    # The run folder turns read-only after the first epoch: the next write fails, the first epoch's checkpoint stays.
    process = _train_cli("--out", tmp_path / "runs", "--epochs", "4", *small, wait=False)
    deadline = time.monotonic() + 240
    while not list((tmp_path / "runs").glob("*/history.json")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # history.json is written after the checkpoint
    (run,) = (tmp_path / "runs").iterdir()
    run.chmod(0o555)
    checkpoint = (run / "last.safetensors").read_bytes()
    stderr = process.communicate(timeout=240)[1]
    line = _one_line_error(subprocess.CompletedProcess(process.args, process.returncode, "", stderr))
    assert line.startswith(f"npgrad: error: cannot write {run}/") and line.endswith(": Permission denied"), line
    assert (run / "last.safetensors").read_bytes() == checkpoint
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]

    line = _one_line_error(_train_cli("--resume", run))
    assert line == f"npgrad: error: cannot resume in {run}: the run folder is not writable"
    assert (run / "last.safetensors").read_bytes() == checkpoint
    run.chmod(0o755)  # writable again: the run continues from that checkpoint
    resumed = _train_cli("--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout and load(run / "last.safetensors")["epoch"] == 4


def test_concurrent_runs_on_one_out_get_their_own_folders(tmp_path):
    from npgrad.cli import session
    from npgrad.cli.options import make_config

    processes = [_train_cli("--out", tmp_path, "--model", "logistic", "--epochs", "2", "--limit-batches", "3",
                            "--seed", str(seed), wait=False) for seed in (1, 2)]
    errors = [p.communicate(timeout=300)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    runs = sorted(tmp_path.iterdir())
    assert len(runs) == 2
    seeds = sorted(json.loads((run / "config.json").read_text())["training"]["seed"] for run in runs)
    assert seeds == [1, 2]  # each folder holds one run's config, and its history is that run's two epochs alone
    assert all(len(json.loads((run / "history.json").read_text())) == 2 for run in runs)

    # The same second's name taken by many at once: os.mkdir gives each its own (name, name-2, ...).
    config = make_config({"model": "logistic"})
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: session.make_run_dir(tmp_path / "many", config), range(8)))
    assert len(set(made)) == 8 and sorted(made) == sorted((tmp_path / "many").iterdir())


def test_a_live_run_cannot_be_resumed_by_a_second_process(tmp_path):
    import signal
    import time

    writer = _train_cli("--out", tmp_path, "--model", "logistic", "--epochs", "50", "--limit-batches", "30",
                        "--batch-size", "16", wait=False)
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob("*/last.safetensors")) and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    (run,) = tmp_path.iterdir()
    try:
        line = _one_line_error(_train_cli("--resume", run, "--epochs", "51"))
        assert line == (f"npgrad: error: cannot resume in {run}: npgrad process {writer.pid} is training in it "
                        f"(it holds {run / '.npgrad-run.lock'}); wait for it to finish or stop it first")
        assert writer.poll() is None  # the writer was never disturbed
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
    done = load(run / "last.safetensors")["epoch"]
    resumed = _train_cli("--resume", run, "--epochs", done + 1)  # the kernel dropped the killed writer's lock
    assert resumed.returncode == 0, resumed.stderr


def test_the_run_lock_is_exclusive_and_released_on_close(tmp_path):
    from npgrad.cli.session import lock_run_dir
    from npgrad.errors import InvalidArgumentError

    held = lock_run_dir(tmp_path, "cannot train")
    if held is None:
        pytest.skip("no flock here")
    with pytest.raises(InvalidArgumentError, match=f"cannot train: npgrad process {os.getpid()} is training in it"):
        lock_run_dir(tmp_path, "cannot train")
    held.close()
    lock_run_dir(tmp_path, "cannot train").close()


def test_predict_writes_non_utf8_file_names_back_as_their_bytes(run, tmp_path, capsys):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    names = [b"caf\xe9.png", b"ok.png"]  # a Latin-1 name, not valid UTF-8
    for name in names:
        Image.new("L", (28, 28), 128).save(os.fsdecode(os.path.join(os.fsencode(images), name)))
    out = tmp_path / "submission.csv"
    assert main(["predict", str(run), "--input", str(images), "--out", str(out)]) == 0, capsys.readouterr().err
    rows = out.read_bytes().splitlines()
    assert rows[0] == b"image,label" and [r.rsplit(b",", 1)[0] for r in rows[1:]] == names


def test_batches_of_one_image_with_batch_norm_name_the_option(tmp_path, capsys):
    line = _error(capsys, "train", "--out", tmp_path, "--batch-size", "1", "--epochs", "1", "--limit-batches", "1",
                  "--no-progress")
    assert line == ("npgrad: error: --batch-size 1: lenet_bn has batch normalization, which needs at least 2 images per "
                    "training batch")
    assert main(["train", "--out", str(tmp_path), "--batch-size", "1", "--model", "logistic", "--epochs", "1",
                 "--limit-batches", "2", "--no-progress"]) == 0  # without batch norm, one image per batch is fine


def _kill_trial(out, delay):
    """Start a checkpointing run, SIGKILL it after ``delay`` s; return (checkpoints corrupt, resume failed, run)."""
    import json
    import signal
    import time

    from npgrad.errors import NpgradError
    from npgrad.train import load_checkpoint

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    argv = [sys.executable, "-m", "npgrad", "train", "--out", str(out), "--model", "logistic", "--epochs", "3",
            "--limit-batches", "30", "--batch-size", "16", "--no-progress"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    runs = [p for p in Path(out).iterdir() if p.is_dir()] if Path(out).is_dir() else []
    if not runs:
        return 0, 0, None  # killed before the run folder existed
    (run,) = runs
    corrupt = 0
    states = {}
    for name in ("last.safetensors", "best.safetensors"):
        if (run / name).exists():
            try:
                states[name] = load_checkpoint(run / name)
            except NpgradError:
                corrupt += 1
    last = states.get("last.safetensors")
    if last is not None and (run / "history.json").exists():  # the history is written after the checkpoint
        written = json.loads((run / "history.json").read_text())
        assert len(last["history"]) - len(written) in (0, 1) and written == last["history"][:len(written)]
    if last is None or (last["epoch"] >= 3 and not last.get("step")):
        return corrupt, 0, run  # nothing to resume, or the run had finished
    resumed = subprocess.run(argv[:3] + ["train", "--resume", str(run), "--no-progress"], env=env, capture_output=True,
                             text=True, timeout=300)
    failed = resumed.returncode != 0 or load_checkpoint(run / "last.safetensors")["epoch"] != 3
    assert failed or not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]  # the killed run's were removed
    return corrupt, int(failed), run


def _kill_trials(tmp_path, trials):
    import random

    rng = random.Random(0)
    totals = [0, 0, 0]
    for i in range(trials):
        corrupt, failed, run = _kill_trial(tmp_path / str(i), rng.uniform(1.0, 6.0))
        totals = [totals[0] + corrupt, totals[1] + failed, totals[2] + (run is not None)]
    assert totals[:2] == [0, 0], f"{totals[0]} corrupt checkpoints, {totals[1]} failed resumes in {trials} trials"
    return totals


def test_kill_9_during_training_leaves_loadable_checkpoints_that_resume(tmp_path):
    _kill_trials(tmp_path, 2)


@pytest.mark.slow
def test_kill_9_during_training_30_trials(tmp_path):
    runs = _kill_trials(tmp_path, 30)[2]
    assert runs >= 20  # most trials got as far as a run folder


def test_info_on_damage_the_fuzzer_found(run, capsys):
    checkpoint = _tamper(run, lambda state: state.update(best=[0.0, None]))
    assert main(["info", str(checkpoint)]) == 0 and "best        accuracy ? at epoch ?" in capsys.readouterr().out
    checkpoint = _tamper(run, _set("epoch", None))
    assert _error(capsys, "info", checkpoint).endswith("its 'epoch' entry None is not a non-negative integer")
    checkpoint = _tamper(run, lambda state: state.update(epoch=1, step=np.ones(3)))
    assert _error(capsys, "info", checkpoint).endswith("its 'step' entry array([1., 1., 1.]) is not a non-negative integer")


def test_a_split_leaving_one_training_image_with_batch_norm_is_a_usage_error(tmp_path, capsys):
    from PIL import Image

    for name in ("cats/a.png", "cats/b.png", "dogs/c.png"):
        (tmp_path / "pets" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (40, 80, 120)).save(tmp_path / "pets" / name)
    line = _error(capsys, "train", "--out", tmp_path / "runs", "--dataset", f"folder:{tmp_path / 'pets'}", "--val-split",
                  "0.5", "--image-size", "32", "--no-progress")
    assert line.endswith("leaves 1 training image; lenet_bn has batch normalization, which needs at least 2 per batch"), line
