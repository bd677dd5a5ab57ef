"""Checkpoints: bit-exact round trips, clear errors for bad files, atomic writes, torch interop."""

import contextlib
import errno
import json
import math
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

import npgrad
from npgrad.errors import CheckpointError, WriteError
from npgrad.serialization import load, save


def _assert_same(a, b):
    """Equal structure, types, dict keys and order; arrays equal bit for bit with the same dtype and shape."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def _nested(rng):
    return {
        "model": {
            "features.0.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
            "features.0.bias": np.array([np.nan, np.inf, -0.0, 1e-45], np.float32),
            "bn.num_batches_tracked": np.array(7, np.int64),
        },
        "arrays": [
            rng.normal(size=(2, 5)),  # float64
            np.arange(-3, 3, dtype=np.int64),
            np.arange(256, dtype=np.uint8).reshape(16, 16),
            np.array([True, False, True]),
            np.array(2.5, np.float32),  # 0-d
            np.zeros((0, 7), np.float32),  # empty
            np.arange(12, dtype=np.int32).reshape(3, 4).T,  # non-contiguous view
        ],
        "optimizer": {"state": {0: {"step": 3}, 10: {}}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999)}]},
        "values": [None, True, False, 0, -(2**62), 0.1, -0.0, float("nan"), float("inf"), float("-inf"), "μ text", [], {}],
        "nested": [[1, [2, (3, None)]], ()],
    }


def test_round_trip_is_bit_exact(tmp_path):
    obj = _nested(np.random.default_rng(0))
    save(obj, tmp_path / "c.safetensors")
    _assert_same(load(tmp_path / "c.safetensors"), obj)


@pytest.mark.parametrize("obj", [np.arange(3.0), [np.ones(2)], 3, None, "x", (1.5,), []])
def test_round_trip_top_level_values(obj, tmp_path):
    save(obj, tmp_path / "c.safetensors")
    _assert_same(load(str(tmp_path / "c.safetensors")), obj)


def test_tensors_and_numpy_scalars_become_arrays_and_numbers(tmp_path):
    t = npgrad.Tensor(np.arange(4, dtype=np.float32), requires_grad=True)
    save({"t": t, "f": np.float32(0.5), "i": np.int64(3), "b": np.bool_(True), 7: "int key"}, tmp_path / "c.safetensors")
    out = load(tmp_path / "c.safetensors")
    _assert_same(out, {"t": t.data, "f": 0.5, "i": 3, "b": True, 7: "int key"})


def test_tensor_names_are_dotted_paths_and_collisions_round_trip(tmp_path):
    from safetensors.numpy import load_file

    a, b, c = np.zeros(1), np.ones(1), np.full(1, 2.0)
    obj = {"a.b": a, "a": {"b": b}, "l": [{"x": c}]}
    save(obj, tmp_path / "c.safetensors")
    names = load_file(tmp_path / "c.safetensors")
    assert set(names) == {"a.b", "a.b__1", "l.0.x"}
    _assert_same(load(tmp_path / "c.safetensors"), obj)


def test_plain_safetensors_file_loads_as_flat_dict(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.arange(3, dtype=np.float32)}, tmp_path / "plain.safetensors")
    _assert_same(load(tmp_path / "plain.safetensors"), {"w": np.arange(3, dtype=np.float32)})


def test_unsupported_values(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set at 'opt.x'"):
        save({"opt": {"x": {1, 2}}}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        save({(1, 2): 3}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="dtype <U1 at 'a'"):
        save({"a": np.array(["x"])}, tmp_path / "c.safetensors")
    assert not os.listdir(tmp_path)


# ----------------------------------------------------------------- bad files
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        load(tmp_path / "nope.safetensors")


def test_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a checkpoint\n")
    with pytest.raises(ValueError, match=r"notes.txt' is not a valid checkpoint: not in the safetensors format"):
        load(path)
    path.write_bytes(b"abc")
    with pytest.raises(ValueError, match="notes.txt' is not a valid checkpoint"):
        load(path)


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.999])
def test_truncated_file(keep, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save({"w": np.ones((64, 64), np.float32)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"ckpt.safetensors' is not a valid checkpoint: file is truncated \(header says"):
        load(path)


def test_damaged_metadata(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "c.safetensors"
    save_file({"w": np.ones(2)}, path, metadata={"npgrad": json.dumps({"version": 1, "root": {"tensor": "missing"}})})
    with pytest.raises(ValueError, match="c.safetensors' is not a valid checkpoint: its npgrad metadata is damaged"):
        load(path)


def test_damaged_header(tmp_path):
    path = tmp_path / "c.safetensors"
    header = b"{not json}"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(ValueError, match="bad header"):
        load(path)


# ------------------------------------------------------------- atomic writes
def test_overwrite_replaces_whole_file(tmp_path):
    path = tmp_path / "c.safetensors"
    save({"w": np.ones(1000)}, path)
    save({"w": np.zeros(2)}, path)
    _assert_same(load(path), {"w": np.zeros(2)})
    assert os.listdir(tmp_path) == ["c.safetensors"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_crash_mid_save_keeps_previous_checkpoint(error, tmp_path, monkeypatch):
    import safetensors.numpy

    path = tmp_path / "c.safetensors"
    save({"w": np.arange(10.0)}, path)
    before = path.read_bytes()
    written = []

    def failing_save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as f:  # part of the new file reaches the temporary file, then the crash
            f.write(b"\x00" * 100)
        written.append(filename)
        raise error

    monkeypatch.setattr(safetensors.numpy, "save_file", failing_save_file)
    with pytest.raises(type(error)):
        save({"w": np.zeros(10)}, path)
    assert written and os.path.dirname(written[0]) == str(tmp_path)  # the temporary file was in the same folder
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.safetensors"]


def test_crash_before_rename_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    save({"w": np.arange(10.0)}, path)
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="power cut"):
        save({"w": np.zeros(10)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.safetensors"]


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({}, tmp_path / "no" / "c.safetensors")


def test_file_mode_is_not_private(tmp_path):
    path = tmp_path / "c.safetensors"
    save({}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------ torch interop
def test_torch_loads_state_dict_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    rng = np.random.default_rng(0)
    state = {
        "features.0.weight": rng.normal(size=(6, 1, 5, 5)).astype(np.float32),
        "features.0.bias": rng.normal(size=6).astype(np.float32),
        "bn.num_batches_tracked": np.array(3, np.int64),
        "classifier.weight": np.asfortranarray(rng.normal(size=(10, 6))).astype(np.float32),
    }
    save(state, tmp_path / "m.safetensors")
    loaded = load_file(tmp_path / "m.safetensors")
    assert list(loaded) == sorted(state) or set(loaded) == set(state)
    for name, array in state.items():
        assert tuple(loaded[name].shape) == array.shape
        assert loaded[name].dtype == {np.float32: torch.float32, np.int64: torch.int64}[array.dtype.type]
        np.testing.assert_array_equal(loaded[name].numpy(), array)


# ------------------------------------------------- training resumes exactly
def test_training_resumes_bit_exactly_from_checkpoint(tmp_path):
    from npgrad import nn, optim

    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(16, 4)).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32)) for _ in range(8)]

    def build(seed):
        npgrad.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        optimizer = optim.AdamW(model.parameters(), lr=0.01)
        scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
        return model, optimizer, scheduler

    def train(model, optimizer, scheduler, batches):
        for x, y in batches:
            optimizer.zero_grad()
            loss = ((model(npgrad.Tensor(x)) - npgrad.Tensor(y)) ** 2).mean()
            loss.backward()
            optimizer.step()
            scheduler.step()

    reference = build(0)
    train(*reference, batches)

    model, optimizer, scheduler = build(0)
    train(model, optimizer, scheduler, batches[:5])
    path = tmp_path / "ckpt.safetensors"
    save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, path)

    model2, optimizer2, scheduler2 = build(1)  # different initial weights: everything must come from the file
    ckpt = load(path)
    model2.load_state_dict(ckpt["model"])
    optimizer2.load_state_dict(ckpt["optimizer"])
    scheduler2.load_state_dict(ckpt["scheduler"])
    train(model2, optimizer2, scheduler2, batches[5:])

    expected = reference[0].state_dict()
    got = model2.state_dict()
    assert list(got) == list(expected) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for name in expected:
        assert got[name].dtype == np.float32
        np.testing.assert_array_equal(got[name], expected[name])
    assert optimizer2.param_groups[0]["lr"] == reference[1].param_groups[0]["lr"]


def test_load_takes_torch_load_arguments(tmp_path):
    path = tmp_path / "best.pt"
    npgrad.save({"w": np.arange(3.0)}, path)
    for kwargs in ({"map_location": "cpu"}, {"map_location": npgrad.device("cpu"), "weights_only": True},
                   {"weights_only": False}):
        np.testing.assert_array_equal(npgrad.load(path, **kwargs)["w"], np.arange(3.0))
    with pytest.raises(RuntimeError, match="load: map_location: npgrad computes on the CPU only"):
        npgrad.load(path, map_location="cuda:0")


@contextlib.contextmanager
def _file_size_limit(nbytes):
    """Writes past ``nbytes`` fail with EFBIG, as on a full disk (SIGXFSZ ignored so that the process survives)."""
    import resource
    import signal

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_full_disk_raises_write_error_and_keeps_the_previous_file(tmp_path):
    path = tmp_path / "c.safetensors"
    save({"w": np.arange(10.0)}, path)
    before = path.read_bytes()
    with _file_size_limit(4096), pytest.raises(WriteError, match=f"cannot write {path}: File too large") as caught:
        save({"w": np.zeros(100_000)}, path)
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.EFBIG
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.safetensors"]


def test_temporaries_of_killed_writers_are_removed_at_the_next_save(tmp_path):
    path = tmp_path / "c.safetensors"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    stale = tmp_path / f".c.safetensors.{int(dead)}.abc123.tmp"  # a writer killed with SIGKILL mid-save
    live = tmp_path / ".c.safetensors.1.def456.tmp"  # pid 1 is running: maybe a write in progress
    other = tmp_path / f".d.safetensors.{int(dead)}.abc123.tmp"  # another file's
    for p in (stale, live, other):
        p.write_bytes(b"\x00" * 100)
    save({"w": np.zeros(2)}, path)
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name, "c.safetensors"])


def _safetensors_file(path, header, data=b""):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def test_bf16_loads_upcast_to_float32(tmp_path):
    values = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)  # exactly representable in bfloat16
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    path = _safetensors_file(tmp_path / "bf16.safetensors", {"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}},
                             bf16)
    w = load(path)["w"]
    assert w.dtype == np.float32 and w.shape == (2, 2) and np.array_equal(w.ravel(), values)
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    save_file({"w": torch.tensor([[0.5, -1.0], [7.0, 1e-3]], dtype=torch.bfloat16)}, str(tmp_path / "t.safetensors"))
    expected = torch.tensor([[0.5, -1.0], [7.0, 1e-3]], dtype=torch.bfloat16).float().numpy()
    assert np.array_equal(load(tmp_path / "t.safetensors")["w"], expected)


@pytest.mark.parametrize(("header", "message"), [
    ({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, "dtype 'F8_E4M3', which npgrad cannot load"),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 2]}}, "needs 12 bytes, its offsets span 2"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 2]}}, "tensor 'w' has a malformed entry"),
    ({"w": {"dtype": "F32", "shape": [0], "data_offsets": [2, 0]}}, "tensor 'w' has a malformed entry"),
    ({"__metadata__": {"npgrad": "[" * 100_000 + "]" * 100_000}}, "nested too deeply"),
])
def test_unloadable_tensors_and_deep_headers_are_checkpoint_errors(tmp_path, header, message):
    path = _safetensors_file(tmp_path / "x.safetensors", header, bytes(2))
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load(path)


def test_a_header_nested_too_deeply_is_a_checkpoint_error(tmp_path):
    raw = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    with pytest.raises(CheckpointError, match="the header is nested too deeply"):
        load(path)


def test_a_pickle_renamed_safetensors_is_never_unpickled(tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"weights": Exploit()}))
    with pytest.raises(CheckpointError, match="not in the safetensors format"):
        load(path)
    assert not marker.exists()
    path.write_bytes(struct.pack("<Q", 2) + b"{}" + pickle.dumps(Exploit()))  # a pickle after a valid empty header
    assert load(path) == {} and not marker.exists()
