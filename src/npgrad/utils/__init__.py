"""``npgrad.utils``: PyTorch's ``torch.utils`` names (``npgrad.utils.data``)."""

from npgrad.utils import data

__all__ = ["data"]
