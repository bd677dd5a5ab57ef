import csv
import json
import math

from npgrad.train.history import History, atomic_write


def _history():
    h = History()
    for e in (1, 2, 3):
        h.append({"epoch": e, "lr": 0.1 / e, "train_loss": 1 / e, "train_acc": 0.5 + e / 10, "val_loss": 1.2 / e,
                  "val_acc": [0.6, 0.8, 0.8][e - 1], "time_s": 1.5, "img_per_s": 100.0})
    return h


def test_csv_json_and_png_are_written_and_round_trip(tmp_path):
    h = _history()
    h.append({"epoch": 4, "lr": 0.01, "train_loss": float("nan"), "train_acc": 0.1, "time_s": 1.0, "img_per_s": 1.0})
    h.write(tmp_path)
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "time_s", "img_per_s"]
    assert [float(r["train_loss"]) for r in rows[:3]] == [1.0, 0.5, 1 / 3]  # exact round trip
    assert rows[3]["val_acc"] == ""
    data = json.loads((tmp_path / "history.json").read_text())  # strict JSON: NaN became null
    assert data[3]["train_loss"] is None and data[0]["val_acc"] == 0.6
    back = History.read_json(tmp_path / "history.json")
    assert math.isnan(back[3]["train_loss"]) and back[1] == h[1]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_best_takes_the_earliest_maximum():
    assert _history().best("val_acc") == (2, 0.8)
    assert History().best() is None


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    try:
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
