"""torchvision's common transforms under their names, one image at a time: ``from npgrad.vision import transforms``.

Each is called as ``t(img)`` on a PIL image or on a ``(C, H, W)`` Tensor, as torchvision's
are, so a Kaggle-style ``Dataset`` whose ``__getitem__`` opens a file with PIL and applies
``Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std)])`` runs unchanged.
Random transforms draw from npgrad's global generator (`npgrad.manual_seed`).

`ToTensor` and `Normalize` reuse `npgrad.data.transforms`' ``ToFloat`` and ``Normalize``;
PIL images are cropped, flipped and resized by Pillow (bilinear with antialiasing, as
torchvision's PIL path). Differences: ``Resize`` and ``RandomResizedCrop`` take PIL images
only, ``interpolation`` is not offered (always bilinear), and ``Normalize(inplace=True)`` still
returns a new tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from npgrad.data import transforms as _batch
from npgrad.random import generator
from npgrad.tensor import Tensor

__all__ = ["CenterCrop", "Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "RandomResizedCrop",
           "Resize", "ToTensor"]


def _is_pil(img: Any) -> bool:
    from PIL import Image

    return isinstance(img, Image.Image)


def _hw(img: Any, op: str) -> tuple[int, int]:
    if _is_pil(img):
        return img.height, img.width
    if isinstance(img, Tensor) and img.ndim == 3:
        return img.shape[1], img.shape[2]
    raise TypeError(f"{op}: expected a PIL image or a (C, H, W) Tensor, got {type(img).__name__} "
                    f"{getattr(img, 'shape', '')}")


def _crop(img: Any, top: int, left: int, h: int, w: int) -> Any:
    if _is_pil(img):
        return img.crop((left, top, left + w, top + h))
    return Tensor(np.ascontiguousarray(img.data[:, top:top + h, left:left + w]))


def _size_pair(size: int | Sequence[int], op: str) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if h <= 0 or w <= 0:
        raise ValueError(f"{op}: size must be positive, got {size}")
    return int(h), int(w)


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img


class ToTensor:
    """A PIL image or an ``(H, W[, C])`` array -> a float32 ``(C, H, W)`` Tensor; uint8 values are scaled to [0, 1]."""

    def __call__(self, pic: Any) -> Tensor:
        if _is_pil(pic):
            pic = np.asarray(pic)
        if not isinstance(pic, np.ndarray) or pic.ndim not in (2, 3):
            raise TypeError(f"ToTensor: expected a PIL image or an (H, W) / (H, W, C) array, got {type(pic).__name__}")
        chw = (pic[None] if pic.ndim == 2 else pic.transpose(2, 0, 1))
        return Tensor(_batch.ToFloat()(np.ascontiguousarray(chw)))


class Normalize:
    """``(x - mean[c]) / std[c]`` on a float ``(C, H, W)`` Tensor (`npgrad.data.transforms.Normalize`)."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float], inplace: bool = False) -> None:
        self._normalize = _batch.Normalize(mean, std)

    def __call__(self, tensor: Tensor) -> Tensor:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Normalize: expected a Tensor (put ToTensor() first), got {type(tensor).__name__}")
        return Tensor(self._normalize(tensor.data))


class Resize:
    """Resize a PIL image: an int ``size`` matches the shorter side (keeping the aspect ratio), ``(h, w)`` is exact."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = size if isinstance(size, (int, np.integer)) else _size_pair(size, "Resize")
        if isinstance(self.size, (int, np.integer)) and self.size <= 0:
            raise ValueError(f"Resize: size must be positive, got {size}")

    def __call__(self, img: Any) -> Any:
        from PIL import Image

        if not _is_pil(img):
            raise TypeError(f"Resize: npgrad resizes PIL images (apply it before ToTensor), got {type(img).__name__}")
        if isinstance(self.size, tuple):
            h, w = self.size
        else:
            short, long = sorted((img.width, img.height))
            scaled = int(self.size * long / short)
            w, h = (self.size, scaled) if img.width <= img.height else (scaled, self.size)
        return img.resize((w, h), Image.BILINEAR)


class CenterCrop:
    """The central ``size`` window (int = square) of a PIL image or a Tensor, offsets rounded as torchvision."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _size_pair(size, "CenterCrop")

    def __call__(self, img: Any) -> Any:
        (h, w), (in_h, in_w) = self.size, _hw(img, "CenterCrop")
        if h > in_h or w > in_w:
            raise ValueError(f"CenterCrop: crop {h}x{w} is larger than the {in_h}x{in_w} image")
        return _crop(img, int(round((in_h - h) / 2)), int(round((in_w - w) / 2)), h, w)


class RandomCrop:
    """A random ``size`` window, after zero-padding each side by ``padding`` pixels."""

    def __init__(self, size: int | Sequence[int], padding: int = 0) -> None:
        self.size = _size_pair(size, "RandomCrop")
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)

    def __call__(self, img: Any) -> Any:
        (h, w), p = self.size, self.padding
        in_h, in_w = _hw(img, "RandomCrop")
        if h > in_h + 2 * p or w > in_w + 2 * p:
            raise ValueError(f"RandomCrop: crop {h}x{w} is larger than the padded {in_h + 2 * p}x{in_w + 2 * p} image")
        top = int(generator().integers(0, in_h + 2 * p - h + 1))
        left = int(generator().integers(0, in_w + 2 * p - w + 1))
        if _is_pil(img):
            from PIL import ImageOps

            return _crop(ImageOps.expand(img, border=p, fill=0) if p else img, top, left, h, w)
        padded = np.pad(img.data, ((0, 0), (p, p), (p, p))) if p else img.data
        return _crop(Tensor(padded), top, left, h, w)


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, img: Any) -> Any:
        _hw(img, "RandomHorizontalFlip")
        if generator().random() >= self.p:
            return img
        if _is_pil(img):
            from PIL import Image

            return img.transpose(Image.FLIP_LEFT_RIGHT)
        return Tensor(np.ascontiguousarray(img.data[..., ::-1]))


class RandomResizedCrop:
    """torchvision's: a random window of ``scale`` of the area and ``ratio`` aspect, resized to ``size`` (PIL images).

    Ten tries at a window that fits, then the central window of the ratio closest to the image's.
    """

    def __init__(self, size: int | Sequence[int], scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> None:
        self.size = _size_pair(size, "RandomResizedCrop")
        if not (0 < scale[0] <= scale[1]) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomResizedCrop: scale and ratio must be increasing positive ranges, got {scale}, {ratio}")
        self.scale, self.ratio = scale, ratio

    def window(self, in_h: int, in_w: int) -> tuple[int, int, int, int]:
        """``(top, left, h, w)`` of the window to crop."""
        area = in_h * in_w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * generator().uniform(*self.scale)
            aspect = math.exp(generator().uniform(*log_ratio))
            w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < w <= in_w and 0 < h <= in_h:
                return int(generator().integers(0, in_h - h + 1)), int(generator().integers(0, in_w - w + 1)), h, w
        in_ratio = in_w / in_h
        if in_ratio < self.ratio[0]:
            w, h = in_w, int(round(in_w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = in_h, int(round(in_h * self.ratio[1]))
        else:
            h, w = in_h, in_w
        return (in_h - h) // 2, (in_w - w) // 2, h, w

    def __call__(self, img: Any) -> Any:
        from PIL import Image

        if not _is_pil(img):
            raise TypeError(f"RandomResizedCrop: npgrad resizes PIL images (apply it before ToTensor), got {type(img).__name__}")
        top, left, h, w = self.window(img.height, img.width)
        return img.resize(self.size[::-1], Image.BILINEAR, box=(left, top, left + w, top + h))
