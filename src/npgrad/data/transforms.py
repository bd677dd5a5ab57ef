"""Batch transforms: vectorised NumPy functions of an ``(N, C, H, W)`` image batch.

Calling convention (defined once, by `Transform`): ``t(x, rng=None)`` where ``x`` is a
batch ``(N, C, H, W)`` or a single image ``(C, H, W)`` (returned as a single image), and
``rng`` is the ``numpy.random.Generator`` random transforms draw from. The `DataLoader`
passes a generator derived from its seed and the epoch, so augmentation is reproducible;
called without one, a random transform uses fresh OS entropy.

Typical training pipeline::

    Compose([RandomCrop(28, padding=2), RandomHorizontalFlip(), ToFloat(), Normalize(0.286, 0.353)])

Geometric transforms (`Resize`, `RandomCrop`, `CenterCrop`, `RandomHorizontalFlip`) keep the
dtype, so they can run on the ``uint8`` batch before `ToFloat` (4x less memory traffic);
`Normalize` needs float input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _pair(size: int | Sequence[int], what: str) -> tuple[int, int]:
    """``(h, w)`` from an int (square) or a pair; both positive."""
    h, w = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if h <= 0 or w <= 0:
        raise ValueError(f"{what}: size must be positive, got {size}")
    return int(h), int(w)


class Transform:
    """Base class: subclasses implement `apply` on a 4-D batch."""

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim == 3:
            return self.apply(x[None], rng)[0]
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expected an image (C, H, W) or a batch (N, C, H, W), got shape {x.shape}")
        return self.apply(x, rng)

    def apply(self, batch: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Transform a batch ``(N, C, H, W)``; ``rng`` is only used by random transforms."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _generator(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng()


class Compose(Transform):
    """Apply ``transforms`` in order, passing the same ``rng`` to each.

    Each element is a `Transform` or any callable ``f(batch, rng) -> batch``.
    """

    def __init__(self, transforms: Sequence[Callable[[np.ndarray, np.random.Generator | None], np.ndarray]]) -> None:
        self.transforms = list(transforms)

    def apply(self, batch: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        for t in self.transforms:
            batch = t(batch, rng)
        return batch


class ToFloat(Transform):
    """``uint8`` in [0, 255] -> ``float32`` in [0, 1].

    Floating input is taken to be scaled already and only cast to ``float32``, so applying
    ToFloat twice is harmless; other integer dtypes are ambiguous and rejected.
    """

    def apply(self, batch: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        if batch.dtype == np.uint8:
            return np.divide(batch, np.float32(255.0), dtype=np.float32)
        if np.issubdtype(batch.dtype, np.floating):
            return batch.astype(np.float32, copy=False)
        raise TypeError(f"ToFloat: expected uint8 or floating input, got {batch.dtype}")


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` per channel, on float input (put `ToFloat` first).

    ``mean`` and ``std`` are one value per channel, or a single value for every channel.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: {len(self.mean)} means but {len(self.std)} stds")
        if min(self.std) <= 0:
            raise ValueError(f"Normalize: std must be positive, got {self.std}")

    def apply(self, batch: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        if not np.issubdtype(batch.dtype, np.floating):
            raise TypeError(f"Normalize: expected float input (put ToFloat() before Normalize), got {batch.dtype}")
        channels = batch.shape[1]
        if len(self.mean) not in (1, channels):
            raise ValueError(f"Normalize: {len(self.mean)} channel means for a batch of {channels} channels")
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        return ((batch - mean) / std).astype(np.float32, copy=False)


def _bilinear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices ``i0, i1`` and weight ``w`` of ``i1`` for each of ``n_out`` outputs.

    Pixel centres are aligned (``align_corners=False``): output ``k`` samples input
    position ``(k + 0.5) * n_in / n_out - 0.5``, clamped to the image.
    """
    pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (pos - i0).astype(np.float32)


class Resize(Transform):
    """Bilinear resize to ``size`` (int = square ``size x size``, or ``(h, w)``).

    Unlike torchvision, an int means a square output, matching the datasets' ``image_size``.
    No antialiasing: for large downscaling resize at decode time (``image_size=``), which
    uses Pillow. ``uint8`` input gives rounded ``uint8`` output; float input stays float.
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _pair(size, "Resize")

    def apply(self, batch: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        (h, w), (in_h, in_w) = self.size, batch.shape[2:]
        if (h, w) == (in_h, in_w):
            return batch
        y0, y1, wy = _bilinear_taps(in_h, h)
        x0, x1, wx = _bilinear_taps(in_w, w)
        wy = wy[:, None]
        rows = batch[:, :, y0, :] * (1 - wy) + batch[:, :, y1, :] * wy
        out = rows[..., x0] * (1 - wx) + rows[..., x1] * wx
        if batch.dtype == np.uint8:
            return np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return out.astype(batch.dtype, copy=False)


class CenterCrop(Transform):
    """The central ``size`` window (int = square), offsets rounded like torchvision."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _pair(size, "CenterCrop")

    def apply(self, batch: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        (h, w), (in_h, in_w) = self.size, batch.shape[2:]
        if h > in_h or w > in_w:
            raise ValueError(f"CenterCrop: crop {h}x{w} is larger than the {in_h}x{in_w} images")
        top, left = int(round((in_h - h) / 2)), int(round((in_w - w) / 2))
        return batch[:, :, top:top + h, left:left + w]


class RandomCrop(Transform):
    """A random ``size`` window per image, after zero-padding each side by ``padding`` pixels.

    Offsets are drawn independently per image, uniformly over all positions that keep the
    window inside the padded image; the crop is one gather from a sliding-window view.
    """

    def __init__(self, size: int | Sequence[int], padding: int = 0) -> None:
        self.size = _pair(size, "RandomCrop")
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)

    def apply(self, batch: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        p, (h, w) = self.padding, self.size
        n, c, in_h, in_w = batch.shape
        if p:  # np.pad is several times slower than this for small images
            padded = np.zeros((n, c, in_h + 2 * p, in_w + 2 * p), dtype=batch.dtype)
            padded[:, :, p:p + in_h, p:p + in_w] = batch
            batch, in_h, in_w = padded, in_h + 2 * p, in_w + 2 * p
        if h > in_h or w > in_w:
            raise ValueError(f"RandomCrop: crop {h}x{w} is larger than the padded {in_h}x{in_w} images")
        rng = _generator(rng)
        top = rng.integers(0, in_h - h + 1, size=n)
        left = rng.integers(0, in_w - w + 1, size=n)
        windows = sliding_window_view(batch, (h, w), axis=(2, 3))  # (N, C, in_h-h+1, in_w-w+1, h, w), no copy
        return windows[np.arange(n), :, top, left]  # the advanced axes come first: (N, C, h, w)


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p`` (drawn per image)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, batch: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        flip = _generator(rng).random(len(batch)) < self.p
        out = batch.copy()
        out[flip] = batch[flip, ..., ::-1]
        return out
