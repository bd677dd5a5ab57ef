import numpy as np
import pytest

from npgrad.data import (
    CenterCrop,
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    ToFloat,
)


def _grid(h: int, w: int, c: int = 1, n: int = 1) -> np.ndarray:
    """(n, c, h, w) uint8 with distinct values."""
    return np.arange(n * c * h * w, dtype=np.uint8).reshape(n, c, h, w)


def test_to_float_scales_uint8_and_is_idempotent():
    x = np.array([[[[0, 51, 255]]]], dtype=np.uint8)
    once = ToFloat()(x)
    assert once.dtype == np.float32 and np.array_equal(once, np.float32([[[[0.0, 0.2, 1.0]]]]))
    assert np.array_equal(ToFloat()(once), once)
    assert ToFloat()(np.zeros((1, 2, 2), np.float64)).dtype == np.float32
    with pytest.raises(TypeError, match="int32"):
        ToFloat()(np.zeros((1, 1, 2, 2), np.int32))


def test_normalize_per_channel():
    x = np.array([[[[0.0, 1.0]], [[0.5, 0.25]]]], dtype=np.float32)  # (1, 2, 1, 2)
    out = Normalize(mean=[0.5, 0.25], std=[0.5, 0.25])(x)
    assert out.dtype == np.float32 and out.tolist() == [[[[-1.0, 1.0]], [[1.0, 0.0]]]]
    assert Normalize(0.5, 0.5)(x).tolist() == [[[[-1.0, 1.0]], [[0.0, -0.5]]]]


def test_normalize_rejects_bad_input():
    with pytest.raises(TypeError, match="ToFloat"):
        Normalize(0.5, 0.5)(_grid(2, 2))
    with pytest.raises(ValueError, match="3 channel means for a batch of 1 channels"):
        Normalize([0.1, 0.2, 0.3], [1, 1, 1])(np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="positive"):
        Normalize(0.0, 0.0)


def test_resize_upsamples_bilinearly_with_aligned_centres():
    x = np.array([[[[0.0, 8.0], [16.0, 24.0]]]], dtype=np.float32)
    out = Resize(4)(x)[0, 0]
    row = [0.0, 2.0, 6.0, 8.0]  # 0, .75*0+.25*8, .25*0+.75*8, 8
    expected = np.array([row, [r + 4 for r in row], [r + 12 for r in row], [r + 16 for r in row]])
    assert np.allclose(out, expected)


def test_resize_halving_averages_2x2_blocks_and_rounds_uint8():
    x = np.array([[[[0, 1, 10, 20], [2, 2, 30, 40], [5, 5, 7, 7], [5, 5, 7, 8]]]], dtype=np.uint8)
    out = Resize((2, 2))(x)
    assert out.dtype == np.uint8 and out[0, 0].tolist() == [[1, 25], [5, 7]]  # 1.25 -> 1, 7.25 -> 7
    assert Resize((4, 2))(x).shape == (1, 1, 4, 2)
    assert Resize(4)(x) is x


def test_center_crop_rounds_like_torchvision():
    x = _grid(6, 6)
    assert np.array_equal(CenterCrop(2)(x), x[:, :, 2:4, 2:4])
    assert np.array_equal(CenterCrop(3)(x), x[:, :, 2:5, 2:5])  # offset round(1.5) = 2
    assert np.array_equal(CenterCrop((4, 2))(x[0]), x[0, :, 1:5, 2:4])  # a single (C, H, W) image
    with pytest.raises(ValueError, match="larger"):
        CenterCrop(7)(x)


def test_random_crop_takes_windows_of_the_zero_padded_image():
    x = _grid(3, 3, c=2, n=200) + 1  # no zeros inside the image
    out = RandomCrop(3, padding=1)(x, np.random.default_rng(0))
    assert out.shape == (200, 2, 3, 3) and out.dtype == np.uint8
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    offsets = set()
    for i in range(200):
        matches = [(t, s) for t in range(3) for s in range(3) if np.array_equal(out[i], padded[i, :, t:t + 3, s:s + 3])]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert offsets == {(t, s) for t in range(3) for s in range(3)}  # every offset drawn, per image


def test_random_crop_is_reproducible_and_identity_without_slack():
    x = _grid(5, 5, n=8)
    a = RandomCrop((3, 4), padding=2)(x, np.random.default_rng(5))
    assert np.array_equal(a, RandomCrop((3, 4), padding=2)(x, np.random.default_rng(5)))
    assert np.array_equal(RandomCrop(5)(x, np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match="larger than the padded 7x7"):
        RandomCrop(8, padding=1)(x)


def test_random_horizontal_flip():
    x = _grid(2, 3, n=400)
    assert np.array_equal(RandomHorizontalFlip(1.0)(x), x[..., ::-1])
    assert np.array_equal(RandomHorizontalFlip(0.0)(x), x)
    out = RandomHorizontalFlip(0.5)(x, np.random.default_rng(1))
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(flipped ^ kept) and 150 < flipped.sum() < 250


def test_compose_applies_in_order_and_passes_the_rng():
    x = np.array([[[[0, 255]]]], dtype=np.uint8)
    pipeline = Compose([RandomHorizontalFlip(1.0), ToFloat(), Normalize(0.5, 0.5)])
    assert pipeline(x, np.random.default_rng(0)).tolist() == [[[[1.0, -1.0]]]]
    seen = []
    Compose([lambda b, rng: seen.append(rng) or b])(x, rng := np.random.default_rng(0))
    assert seen == [rng]


def test_single_images_and_bad_shapes():
    image = _grid(4, 4, c=3)[0]
    assert RandomHorizontalFlip(1.0)(image).shape == (3, 4, 4)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        ToFloat()(np.zeros((4, 4), np.uint8))
