"""``npgrad.vision``: torchvision's names for per-image work (``npgrad.vision.transforms``)."""

from npgrad.vision import transforms

__all__ = ["transforms"]
