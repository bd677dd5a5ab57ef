"""The per-epoch record of a run: ``history.csv``, ``history.json`` and the ``curves.png`` plot.

A `History` is a list of one dict per epoch with the keys of `COLUMNS` that apply (``val_*`` only
with a validation set, ``*_top5`` only with more than five classes, plus any extra metrics).
Everything is written atomically (temporary file + rename), so a run killed while writing never
leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from npgrad._fileio import atomic_write

# The order of the columns in history.csv; extra keys follow in first-seen order.
COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "train_top5", "val_loss", "val_acc", "val_top5", "time_s", "img_per_s")


def _json_value(v: Any) -> Any:
    # JSON has no NaN/Infinity: write null so that every JSON reader accepts the file.
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class History:
    """The records of the epochs run so far, one dict per epoch (``epoch`` counts from 1)."""

    def __init__(self, records: list[dict[str, Any]] | None = None):
        self.records: list[dict[str, Any]] = [dict(r) for r in records or []]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.records[i]

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(dict(record))

    def column(self, key: str) -> list[float]:
        """The values of ``key`` over the epochs (NaN where an epoch lacks it)."""
        return [float(r.get(key, float("nan"))) for r in self.records]

    def columns(self) -> list[str]:
        keys = [k for k in COLUMNS if any(k in r for r in self.records)]
        for r in self.records:
            keys += [k for k in r if k not in keys]
        return keys

    def best(self, key: str = "val_acc") -> tuple[int, float] | None:
        """(epoch, value) of the largest finite ``key``, the earliest on ties; None if there is none."""
        values = [(r[key], r["epoch"]) for r in self.records if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        if not values:
            return None
        value, epoch = max(values, key=lambda ve: (ve[0], -ve[1]))
        return epoch, value

    # ------------------------------------------------------------- files
    def write_csv(self, path: str | os.PathLike) -> None:
        cols = self.columns()
        with atomic_write(path, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            writer.writeheader()
            for r in self.records:
                writer.writerow({k: _format_csv(r.get(k)) for k in cols})

    def write_json(self, path: str | os.PathLike) -> None:
        data = [{k: _json_value(v) for k, v in r.items()} for r in self.records]
        with atomic_write(path) as f:
            json.dump(data, f, indent=1)
            f.write("\n")

    def write(self, run_dir: str | os.PathLike, plot: bool = True) -> None:
        """Write ``history.csv``, ``history.json`` and (if ``plot``) ``curves.png`` into ``run_dir``."""
        run_dir = Path(run_dir)
        self.write_csv(run_dir / "history.csv")
        self.write_json(run_dir / "history.json")
        if plot and self.records:
            from npgrad.train.plots import plot_curves

            plot_curves(self, run_dir / "curves.png")

    @classmethod
    def read_json(cls, path: str | os.PathLike) -> History:
        with open(path) as f:
            data = json.load(f)
        return cls([{k: float("nan") if v is None else v for k, v in r.items()} for r in data])


def _format_csv(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # shortest round-trip form: reading the CSV back gives the same floats
    return v
