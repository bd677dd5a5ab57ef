import numpy as np
import pytest

import npgrad
from npgrad.testing.op_check import check_op

X = np.random.default_rng(0).standard_normal((3, 4, 5))


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin"])
def test_reductions(name, dim, keepdim):
    ref = getattr(np, name)
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


def test_amax_and_full_max_share_gradient_among_ties():
    for reduce in (lambda x: x.amax(dim=1).sum(), lambda x: x.max()):
        x = npgrad.Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
        reduce(x).backward()
        expected = [[0, 0.5, 0.5], [1, 0, 0]] if x.grad.sum() == 2 else [[0, 0.5, 0.5], [0, 0, 0]]
        np.testing.assert_array_equal(x.grad, expected)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_dim_return_values_and_indices(name, dim, keepdim):
    values, indices = getattr(npgrad.Tensor(X), name)(dim, keepdim)
    np.testing.assert_array_equal(values.data, getattr(np, "a" + name)(X, axis=dim, keepdims=keepdim))
    np.testing.assert_array_equal(indices.data, getattr(np, "arg" + name)(X, axis=dim, keepdims=keepdim))
    assert indices.dtype == np.int64
    check_op(lambda t: getattr(npgrad, name)(t, dim=dim, keepdim=keepdim).values, X,
             reference=lambda a: getattr(np, "a" + name)(a, axis=dim, keepdims=keepdim),
             torch_op=lambda t: getattr(t, name)(dim=dim, keepdim=keepdim).values)


def test_max_with_dim_sends_the_gradient_to_the_selected_element_only():
    x = npgrad.Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    values, indices = x.max(dim=1)
    values.sum().backward()
    np.testing.assert_array_equal(indices.data, [1, 0])  # the first of tied maxima, as np.argmax
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])


def test_max_dim_must_be_one_int_and_axis_keeps_numpy_semantics():
    t = npgrad.Tensor(X)
    with pytest.raises(TypeError, match="use amax for several dims"):
        t.max(dim=(0, 1))
    np.testing.assert_array_equal(t.max(axis=(0, 1)).data, X.max(axis=(0, 1)))
    np.testing.assert_array_equal(t.min(axis=1, keepdims=True).data, X.min(axis=1, keepdims=True))


@pytest.mark.parametrize("dim", [None, 0, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("correction", [0, 1])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_and_std(name, dim, keepdim, correction):
    check_op(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim, correction=correction), X,
             reference=lambda a: getattr(np, name)(a, axis=dim, keepdims=keepdim, ddof=correction),
             torch_op=lambda t: getattr(t, name)(dim=dim, keepdim=keepdim, correction=correction))


def test_var_defaults_to_the_unbiased_estimate_and_takes_unbiased():
    t = npgrad.Tensor(X)
    np.testing.assert_allclose(t.var().data, X.var(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(npgrad.std(t, 1, False).data, X.std(axis=1), rtol=1e-12)
    with pytest.raises(TypeError, match="either unbiased or correction"):
        t.var(0, unbiased=True, correction=1)


def test_reduction_dim_out_of_range():
    with pytest.raises(ValueError, match="dim 3 is out of range"):
        npgrad.Tensor(X).sum(dim=3)


def test_argmax_and_argmin():
    t = npgrad.Tensor(X)
    np.testing.assert_array_equal(t.argmax(dim=1).data, X.argmax(axis=1))
    np.testing.assert_array_equal(npgrad.argmin(t, -1, keepdim=True).data, X.argmin(axis=-1, keepdims=True))
    assert npgrad.argmax(t).item() == X.argmax()


@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, False), ((0, 2), True)])
def test_norm_is_the_2_norm(dim, keepdim):
    check_op(lambda t: npgrad.norm(t, dim=dim, keepdim=keepdim), X,
             reference=lambda a: np.sqrt((a * a).sum(axis=dim, keepdims=keepdim)),
             torch_op=lambda t: t.norm(dim=dim, keepdim=keepdim))
    assert npgrad.Tensor(X).norm().item() == pytest.approx(np.linalg.norm(X.ravel()))
    with pytest.raises(ValueError, match="only the 2-norm"):
        npgrad.Tensor(X).norm(p=1)


def test_cumsum_and_its_reversed_cumsum_gradient():
    x = np.random.default_rng(3).standard_normal((3, 5))
    check_op(lambda t: t.cumsum(1), x, reference=lambda a: np.cumsum(a, axis=1), torch_op=lambda t: t.cumsum(1))
    check_op(lambda t: npgrad.cumsum(t, 0), x, reference=lambda a: np.cumsum(a, axis=0))


def test_sort_argsort_topk_match_pytorch_with_nan_and_ties():
    x = np.array([[3.0, 1.0, 2.0, 1.0], [np.nan, 5.0, -1.0, 5.0]])
    values, indices = npgrad.sort(npgrad.tensor(x), descending=True)
    np.testing.assert_array_equal(indices.numpy(), [[0, 2, 1, 3], [0, 1, 3, 2]])  # NaN counts as the largest
    np.testing.assert_array_equal(values.numpy(), [[3, 2, 1, 1], [np.nan, 5, 5, -1]])
    np.testing.assert_array_equal(npgrad.tensor(x).argsort(dim=1).numpy(), [[1, 3, 2, 0], [2, 1, 3, 0]])
    top = npgrad.tensor(x).topk(2)
    np.testing.assert_array_equal(top.indices.numpy(), [[0, 2], [0, 1]])
    np.testing.assert_array_equal(npgrad.tensor(x[:1]).topk(3, largest=False).values.numpy(), [[1, 1, 2]])
    y = np.random.default_rng(4).standard_normal((3, 6))  # distinct values: the permutation is unique
    check_op(lambda t: t.sort(dim=0).values, y, reference=lambda a: np.sort(a, axis=0),
             torch_op=lambda t: t.sort(dim=0).values)
    check_op(lambda t: t.topk(4, dim=1).values, y, reference=lambda a: -np.sort(-a, axis=1)[:, :4],
             torch_op=lambda t: t.topk(4, dim=1).values)
    with pytest.raises(ValueError, match="k=7 is out of range for dimension -1 of size 6"):
        npgrad.tensor(y).topk(7)
    # top-5 accuracy as course code writes it
    scores, labels = npgrad.tensor(y), npgrad.tensor([5, 0, 2])
    hits = (scores.topk(2, dim=1).indices == labels.unsqueeze(1)).any()
    assert isinstance(hits, npgrad.Tensor)
