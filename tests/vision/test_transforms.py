import numpy as np
import pytest

import npgrad
from npgrad.vision import transforms

Image = pytest.importorskip("PIL.Image")

RGB = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)  # (H, W, C)


def test_to_tensor_and_normalize_as_torchvision():
    x = transforms.ToTensor()(Image.fromarray(RGB))
    assert isinstance(x, npgrad.Tensor) and x.shape == (3, 4, 6) and x.dtype == np.float32
    np.testing.assert_allclose(x.data, RGB.transpose(2, 0, 1) / 255, rtol=1e-6)
    assert transforms.ToTensor()(RGB[..., 0]).shape == (1, 4, 6)
    y = transforms.Normalize((0.5, 0.5, 0.5), (0.25, 0.5, 1.0))(x)
    np.testing.assert_allclose(y.data[1], (x.data[1] - 0.5) / 0.5, rtol=1e-6)
    with pytest.raises(TypeError, match="put ToTensor"):
        transforms.Normalize(0.5, 0.5)(RGB)
    with pytest.raises(TypeError, match="ToTensor: expected a PIL image"):
        transforms.ToTensor()([1, 2])


def test_resize_matches_the_shorter_side_or_an_exact_size():
    img = Image.fromarray(np.zeros((40, 100, 3), np.uint8))
    assert transforms.Resize(20)(img).size == (50, 20)  # PIL sizes are (w, h)
    assert transforms.Resize((10, 30))(img).size == (30, 10)
    with pytest.raises(TypeError, match="Resize: npgrad resizes PIL images"):
        transforms.Resize(4)(npgrad.zeros(3, 8, 8))


def test_crops_and_flips_agree_on_pil_images_and_tensors():
    img, t = Image.fromarray(RGB), npgrad.tensor(RGB.transpose(2, 0, 1))
    centre_pil, centre_t = transforms.CenterCrop((2, 4))(img), transforms.CenterCrop((2, 4))(t)
    np.testing.assert_array_equal(np.asarray(centre_pil).transpose(2, 0, 1), centre_t.data)
    np.testing.assert_array_equal(centre_t.data, RGB.transpose(2, 0, 1)[:, 1:3, 1:5])
    flip = transforms.RandomHorizontalFlip(p=1.0)
    np.testing.assert_array_equal(np.asarray(flip(img)), RGB[:, ::-1])
    np.testing.assert_array_equal(flip(t).data, RGB.transpose(2, 0, 1)[..., ::-1])
    assert transforms.RandomHorizontalFlip(p=0.0)(img) is img
    for seed in range(5):  # the same draws give the same window on both kinds of image
        npgrad.manual_seed(seed)
        a = np.asarray(transforms.RandomCrop(4, padding=1)(img)).transpose(2, 0, 1)
        npgrad.manual_seed(seed)
        np.testing.assert_array_equal(a, transforms.RandomCrop(4, padding=1)(t).data)
    with pytest.raises(ValueError, match="CenterCrop: crop 5x5 is larger than the 4x6 image"):
        transforms.CenterCrop(5)(img)


def test_random_resized_crop_gives_the_size_and_a_window_inside_the_image():
    npgrad.manual_seed(0)
    rrc = transforms.RandomResizedCrop(8, scale=(0.2, 0.6))
    for _ in range(20):
        top, left, h, w = rrc.window(40, 60)
        assert 0 <= top <= 40 - h and 0 <= left <= 60 - w and 0.2 * 2400 * 0.8 <= h * w <= 0.6 * 2400 * 1.2
    assert rrc(Image.fromarray(np.zeros((40, 60), np.uint8))).size == (8, 8)
    assert transforms.RandomResizedCrop(4, scale=(2.0, 3.0)).window(10, 40) == (0, 13, 10, 13)  # the fallback: central, ratio 4/3


def test_compose_runs_a_kaggle_style_pipeline():
    npgrad.manual_seed(0)
    pipeline = transforms.Compose([transforms.Resize(8), transforms.RandomCrop(8), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
    x = pipeline(Image.fromarray(np.full((16, 24, 3), 255, np.uint8)))
    assert x.shape == (3, 8, 8) and np.allclose(x.data, 1.0)
