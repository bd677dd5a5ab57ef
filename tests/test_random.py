import numpy as np
import pytest

import npgrad


def test_generator_is_seeded_as_pytorchs_and_reseeds_in_place():
    g = npgrad.Generator()
    assert g.initial_seed() == 67280421310721  # PyTorch's default seed of a new generator
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    first = g.numpy.random(3)
    np.testing.assert_array_equal(npgrad.Generator(device="cpu").manual_seed(5).numpy.random(3), first)
    assert not np.array_equal(g.numpy.random(3), first)  # it moves on as it draws


def test_generator_refuses_other_devices_and_seeds():
    with pytest.raises(ValueError, match="only the CPU holds data in npgrad, got device='cuda'"):
        npgrad.Generator(device="cuda")
    with pytest.raises(TypeError, match="seed must be an int, got 1.5"):
        npgrad.Generator().manual_seed(1.5)
