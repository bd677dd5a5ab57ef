"""Tools to prove operators correct: `gradcheck` and the textbook loop kernels in `naive`."""

from npgrad.testing.gradcheck import GradcheckError, GradcheckResult, gradcheck

__all__ = ["GradcheckError", "GradcheckResult", "gradcheck"]
