"""PNG plots of a run: training curves and confusion matrices.

Figures are drawn with matplotlib's object API on the Agg canvas (``Figure`` +
``savefig``), never through ``pyplot``: no GUI backend is touched, no global figure
state is kept, and it works on headless machines. matplotlib is imported on first
use only, so importing `npgrad.train` stays fast.
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from npgrad._fileio import atomic_write

if TYPE_CHECKING:
    from npgrad.train.history import History


def _figure(width: float, height: float):  # noqa: ANN202 - matplotlib type, imported lazily
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> None:  # noqa: ANN001
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    # A Figure, its canvas, axes and artists refer to each other: only the cycle collector frees them, and with
    # its rare full passes a figure drawn every epoch (its 1.6 MB Agg buffer and its artists) piled up: a
    # 30-epoch run grew 81 -> 111 MiB, 3 MiB an epoch at times (RSS keeps a peak: npgrad keeps freed memory).
    # Collecting here frees them; it takes milliseconds, once a plot.
    fig.clear()  # the caller still holds this one: its artists go now, the figure itself at the next plot
    gc.collect()


def plot_curves(history: History, path: str | os.PathLike, title: str | None = None) -> None:
    """Two panels, loss and accuracy per epoch, train and validation, saved as PNG to ``path``."""
    epochs = history.column("epoch")
    fig = _figure(10, 4)
    panels = (("loss", "Loss"), ("acc", "Accuracy"))
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        for split, style in (("train", "o-"), ("val", "s-")):
            values = history.column(f"{split}_{key}")
            if any(math.isfinite(v) for v in values):
                ax.plot(epochs, values, style, label=split, markersize=4)
        if key == "acc":
            top5 = history.column("val_top5")
            if any(math.isfinite(v) for v in top5):
                ax.plot(epochs, top5, "^--", label="val top-5", markersize=4, alpha=0.6)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label.lower())
        ax.set_title(label)
        if key == "acc":  # accuracies live in [0, 1]: zoom on the part in use, keep 1 in view
            values = [v for line in ax.lines for v in line.get_ydata() if math.isfinite(v)]
            if values:
                ax.set_ylim(max(0.0, min(values) - 0.05), 1.005)
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def plot_confusion_matrix(
    confusion: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str | None = None
) -> None:
    """A confusion matrix (rows = true class, columns = predicted), colour by row-normalised rate, counts printed."""
    confusion = np.asarray(confusion)
    k = confusion.shape[0]
    support = confusion.sum(axis=1, keepdims=True)
    rates = confusion / np.maximum(support, 1)
    size = min(4 + 0.5 * k, 16)
    fig = _figure(size + 1, size)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ticks = np.arange(k)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_yticklabels(classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:  # beyond that the numbers are unreadable anyway
        for (i, j), count in np.ndenumerate(confusion):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color="white" if rates[i, j] > 0.5 else "black")
    ax.set_title(title or "Confusion matrix")
    fig.tight_layout()
    _save(fig, path)
