import numpy as np
import pytest

import npgrad
from npgrad.testing.op_check import check_op

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3, 4))
Y = rng.standard_normal((2, 3, 4))


def test_reshape_view_flatten():
    check_op(lambda t: t.reshape(6, -1), X, reference=lambda a: a.reshape(6, -1))
    check_op(lambda t: t.view((4, 6)), X, reference=lambda a: a.reshape(4, 6))
    check_op(lambda t: t.flatten(1), X, reference=lambda a: a.reshape(2, 12))
    check_op(lambda t: npgrad.flatten(t), X, reference=lambda a: a.reshape(-1))
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3, 4\)"):
        npgrad.Tensor(X).reshape(5, 5)


def test_permute_transpose_T():
    check_op(lambda t: t.permute(2, 0, 1), X, reference=lambda a: a.transpose(2, 0, 1),
             torch_op=lambda t: t.permute(2, 0, 1))
    check_op(lambda t: t.transpose(0, 2), X, reference=lambda a: a.swapaxes(0, 2))
    check_op(lambda t: t.T, X[0], reference=lambda a: a.T)
    with pytest.raises(ValueError, match="not a permutation"):
        npgrad.Tensor(X).permute(0, 0, 1)


def test_unsqueeze_squeeze():
    check_op(lambda t: t.unsqueeze(1).squeeze(1), X, reference=lambda a: a)
    assert npgrad.Tensor(X).unsqueeze(-1).shape == (2, 3, 4, 1)
    assert npgrad.ones(1, 3, 1).squeeze().shape == (3,)


@pytest.mark.parametrize(
    "index",
    [
        (0,),
        (slice(None), 1),
        (Ellipsis, slice(1, 3)),
        (slice(None, None, -1),),
        (np.array([0, 0, 1]),),  # repeated rows: gradients must add up
        (X > 0,),
        (slice(None), [2, 0, 2], 1),
    ],
)
def test_indexing_with_scatter_add_backward(index):
    check_op(lambda t: t[index], X, reference=lambda a: a[index])


def test_index_with_tensor():
    idx = npgrad.Tensor(np.array([1, 1]))
    check_op(lambda t: t[idx], X, reference=lambda a: a[[1, 1]])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack(dim):
    check_op(lambda a, b: npgrad.cat([a, b], dim=dim), X, Y, reference=lambda a, b: np.concatenate([a, b], dim),
             torch_op=lambda a, b: __import__("torch").cat([a, b], dim=dim))
    check_op(lambda a, b: npgrad.stack([a, b], axis=dim), X, Y, reference=lambda a, b: np.stack([a, b], dim))


def test_cat_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="non-empty"):
        npgrad.cat([])


def test_expand_repeats_size_one_dimensions_and_sums_the_gradient():
    a = rng.standard_normal((3, 1))
    check_op(lambda t: t.expand(2, 3, 4), a, reference=lambda v: np.broadcast_to(v, (2, 3, 4)),
             torch_op=lambda t: t.expand(2, 3, 4))
    check_op(lambda t: t.expand(-1, 5), a, reference=lambda v: np.broadcast_to(v, (3, 5)))
    assert npgrad.Tensor(a).expand_as(npgrad.zeros(3, 2)).shape == (3, 2)
    with pytest.raises(ValueError, match="dimension 0 has size 3, which cannot be expanded to 4"):
        npgrad.Tensor(a).expand(4, 2)
    with pytest.raises(ValueError, match="-1 is only allowed for existing dimensions"):
        npgrad.Tensor(a).expand(-1, 3, 2)


def test_tensors_index_tensors():
    t = npgrad.Tensor(X)
    rows = npgrad.tensor([1, 0, 1])
    np.testing.assert_array_equal(t[0][rows, npgrad.tensor([0, 2, 3])].data, X[0][[1, 0, 1], [0, 2, 3]])
    np.testing.assert_array_equal(t[t > 0].data, X[X > 0])


def torch_gather(dim, index):
    def op(t):
        import torch

        return t.gather(dim, torch.from_numpy(index))

    return op


def test_gather_picks_along_dim_and_adds_gradients_of_repeated_indices():
    index = np.array([[[0, 2, 2, 1]], [[1, 1, 0, 0]]])  # (2, 1, 4): repeats along dim 1
    check_op(lambda t: npgrad.gather(t, 1, index), X, reference=lambda a: np.take_along_axis(a, index, axis=1),
             torch_op=torch_gather(1, index))
    smaller = np.array([[[2, 0]]])  # (1, 1, 2): smaller than X off dim 1 picks from the leading corner
    check_op(lambda t: t.gather(1, smaller), X, reference=lambda a: np.take_along_axis(a[:1, :, :2], smaller, axis=1),
             torch_op=torch_gather(1, smaller))
    with pytest.raises(IndexError, match="out of range for dimension 1 of size 3"):
        npgrad.Tensor(X).gather(1, np.full((2, 1, 4), 3))
    with pytest.raises(ValueError, match=r"index of shape \(2, 4, 4\) does not fit input of shape \(2, 3, 4\)"):
        npgrad.Tensor(X).gather(2, np.zeros((2, 4, 4), int))
    with pytest.raises(TypeError, match="integer"):
        npgrad.Tensor(X).gather(1, np.zeros((2, 1, 4)))


@pytest.mark.parametrize("sizes", [(1, 1, 1), (2, 1, 3), (2, 2, 1, 2), (1, 0, 1)])
def test_repeat_tiles_and_sums_the_tiles_back(sizes):
    check_op(lambda t: t.repeat(*sizes), X, reference=lambda a: np.tile(a, sizes),
             torch_op=lambda t: t.repeat(*sizes))
    with pytest.raises(ValueError, match="at least one size per dimension"):
        npgrad.Tensor(X).repeat(2, 2)


def test_split_and_chunk_follow_pytorch_sizes():
    x = npgrad.arange(10.0)
    assert [p.shape[0] for p in x.split(4)] == [4, 4, 2]
    assert [p.shape[0] for p in npgrad.split(x, [3, 7])] == [3, 7]
    assert [p.shape[0] for p in x.chunk(4)] == [3, 3, 3, 1]  # ceil(10 / 4) each
    assert [p.shape[0] for p in npgrad.chunk(x, 3)] == [4, 4, 2]
    check_op(lambda t: t.split(2, dim=2)[1] * 2 + t.chunk(3, dim=1)[0].sum(), X)
    with pytest.raises(ValueError, match="do not add up to the length 10"):
        x.split([3, 3])
