import numpy as np
import pytest

import npgrad


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator, and the global npgrad generator seeded too."""
    npgrad.manual_seed(0)
    return np.random.default_rng(0)
