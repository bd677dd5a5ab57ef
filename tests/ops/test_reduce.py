import numpy as np
import pytest

import npgrad
from npgrad.testing.op_check import check_op

X = np.random.default_rng(0).standard_normal((3, 4, 5))


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
def test_reductions(name, dim, keepdim):
    ref = getattr(np, {"max": "amax", "min": "amin"}.get(name, name))
    check_op(
        lambda t: getattr(t, name)(dim=dim, keepdim=keepdim),
        X,
        reference=lambda a: ref(a, axis=dim, keepdims=keepdim),
    )


def test_numpy_aliases_axis_and_keepdims():
    t = npgrad.Tensor(X)
    np.testing.assert_array_equal(t.sum(axis=1, keepdims=True).data, X.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(npgrad.mean(t, axis=(0, 1)).data, X.mean(axis=(0, 1)))
    with pytest.raises(TypeError, match="either dim or axis"):
        t.sum(dim=0, axis=0)


def test_max_shares_gradient_among_ties_like_amax():
    x = npgrad.Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


def test_reduction_dim_out_of_range():
    with pytest.raises(ValueError, match="dim 3 is out of range"):
        npgrad.Tensor(X).sum(dim=3)


def test_argmax():
    t = npgrad.Tensor(X)
    np.testing.assert_array_equal(t.argmax(dim=1).data, X.argmax(axis=1))
