import os
import warnings

import numpy as np
import pytest
from PIL import Image

from npgrad.data import DataLoader, ImageFiles, ImageFolder, load_image
from npgrad.errors import DataError, MissingFileError


def _cats_and_dogs(root, save_image, n=2, size=(6, 8)):
    """root/{cats,dogs}: PNG cats (value 10*i), JPEG dogs."""
    for i in range(n):
        save_image(root / "cats" / f"cat.{i}.png", np.full((*size, 3), 10 * i, np.uint8))
        save_image(root / "dogs" / f"dog.{i}.jpg", np.full((*size, 3), 200, np.uint8), quality=95)
    return root


def test_load_image_rgb_png_is_exact(tmp_path, save_image, gradient_rgb):
    path = save_image(tmp_path / "a.png", gradient_rgb)
    image = load_image(path)
    assert image.dtype == np.uint8 and image.shape == (3, 6, 8) and image.flags["C_CONTIGUOUS"]
    assert np.array_equal(image, gradient_rgb.transpose(2, 0, 1))
    gray = load_image(path, channels=1)
    expected = np.asarray(Image.fromarray(gradient_rgb).convert("L"))
    assert gray.shape == (1, 6, 8) and np.array_equal(gray[0], expected)


def test_load_image_resizes(tmp_path, save_image, gradient_rgb):
    path = save_image(tmp_path / "a.png", gradient_rgb)
    assert load_image(path, image_size=4).shape == (3, 4, 4)
    assert load_image(path, image_size=(3, 5), channels=1).shape == (1, 3, 5)
    flat = save_image(tmp_path / "flat.jpg", np.full((64, 48, 3), 90, np.uint8), quality=95)
    small = load_image(flat, image_size=(8, 6))  # JPEG draft decoding then resize
    assert small.shape == (3, 8, 6) and np.all(np.abs(small.astype(int) - 90) <= 2)


def test_load_image_converts_modes(tmp_path, save_image):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 7
    assert load_image(save_image(tmp_path / "rgba.png", rgba))[:, 0, 0].tolist() == [255, 0, 0]

    palette = Image.new("P", (2, 2), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png")[:, 1, 1].tolist() == [10, 20, 30]

    sixteen = np.array([[0, 257 * 100], [65535, 65280]], np.uint16)  # 65280 / 257 = 254.0
    Image.fromarray(sixteen).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    assert load_image(tmp_path / "16.png", channels=1)[0].tolist() == [[0, 100], [255, 254]]
    assert load_image(tmp_path / "16.png", channels=3)[:, 1, 0].tolist() == [255, 255, 255]

    cmyk = save_image(tmp_path / "c.jpg", np.full((8, 8, 3), 128, np.uint8), mode="CMYK", quality=100)
    assert Image.open(cmyk).mode == "CMYK" and load_image(cmyk).shape == (3, 8, 8)
    bmp = save_image(tmp_path / "g.bmp", np.full((3, 5), 77, np.uint8))
    assert load_image(bmp).tolist() == np.full((3, 3, 5), 77).tolist()


def test_load_image_errors_name_the_file(tmp_path, save_image):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    with pytest.raises(ValueError, match=f"cannot decode image '{bad}': cannot identify image file"):
        load_image(bad)
    whole = save_image(tmp_path / "whole.jpg", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:1500])
    with pytest.raises(ValueError, match=f"cannot decode image '{cut}': image file is truncated"):
        load_image(cut)
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="channels must be 1"):
        load_image(whole, channels=4)


def test_image_folder_classes_samples_and_items(tmp_path, save_image):
    root = _cats_and_dogs(tmp_path / "train", save_image)
    (root / "cats" / "notes.txt").write_text("ignored")
    (root / "cats" / "._cat.0.png").write_bytes(b"macOS resource fork, ignored")
    ds = ImageFolder(root, image_size=4)
    assert ds.classes == ["cats", "dogs"] and ds.class_to_idx == {"cats": 0, "dogs": 1}
    assert ds.samples == [(str(root / "cats" / "cat.0.png"), 0), (str(root / "cats" / "cat.1.png"), 0),
                          (str(root / "dogs" / "dog.0.jpg"), 1), (str(root / "dogs" / "dog.1.jpg"), 1)]
    assert ds.image_ids == ["cats/cat.0.png", "cats/cat.1.png", "dogs/dog.0.jpg", "dogs/dog.1.jpg"]
    assert ds.targets.dtype == np.int64 and ds.targets.tolist() == [0, 0, 1, 1]
    image, label = ds[1]
    assert image.shape == (3, 4, 4) and np.all(image == 10) and label == 0
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 3, 4, 4) and x.dtype == np.float32 and y.tolist() == [0, 0, 1, 1]


def test_cats_and_dogs_layout_is_two_image_folders(tmp_path, save_image):
    _cats_and_dogs(tmp_path / "dataset" / "training_set", save_image, n=3)
    _cats_and_dogs(tmp_path / "dataset" / "test_set", save_image, n=1)
    train = ImageFolder(tmp_path / "dataset" / "training_set", channels=1)
    test = ImageFolder(tmp_path / "dataset" / "test_set", channels=1, classes=train.classes)
    assert (len(train), len(test)) == (6, 2) and test.class_to_idx == train.class_to_idx
    assert train[0][0].shape == (1, 6, 8)


def test_given_classes_fix_the_label_indices(tmp_path, save_image):
    root = _cats_and_dogs(tmp_path, save_image, n=1)
    ds = ImageFolder(root, classes=["birds", "cats", "dogs"])
    assert ds.targets.tolist() == [1, 2]
    with pytest.raises(DataError, match="folder '.*dogs' is not one of the known classes"):
        ImageFolder(root, classes=["cats"])


def test_image_folder_structure_errors(tmp_path, save_image):
    with pytest.raises(MissingFileError, match="no folder"):
        ImageFolder(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    save_image(tmp_path / "flat" / "a.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(DataError, match="no class folders in"):
        ImageFolder(tmp_path / "flat")
    root = _cats_and_dogs(tmp_path / "t", save_image, n=1)
    (root / "birds").mkdir()
    with pytest.raises(DataError, match="class folder '.*birds' has no image files"):
        ImageFolder(root)


def test_unreadable_images_raise_on_access_or_are_skipped_with_one_warning(tmp_path, save_image):
    root = _cats_and_dogs(tmp_path, save_image, n=3)
    (root / "cats" / "cat.1.png").write_bytes(b"\x89PNG but broken")
    whole = (root / "dogs" / "dog.2.jpg").read_bytes()
    (root / "dogs" / "dog.2.jpg").write_bytes(whole[: len(whole) // 2])

    ds = ImageFolder(root)
    assert len(ds) == 6
    with pytest.raises(ValueError, match="cannot decode image '.*cat.1.png'"):
        ds[1]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ImageFolder(root, on_error="skip")
    assert len(caught) == 1 and "skipped 2 of 6 images" in str(caught[0].message)
    assert caught[0].filename == __file__
    assert [p.rsplit("/", 1)[-1] for p, _ in ds.samples] == ["cat.0.png", "cat.2.png", "dog.0.jpg", "dog.1.jpg"]
    assert ds.targets.tolist() == [0, 0, 1, 1] and len(list(DataLoader(ds, batch_size=2))) == 2
    with pytest.raises(ValueError, match="on_error"):
        ImageFolder(root, on_error="ignore")


def test_images_of_different_sizes_need_image_size(tmp_path, save_image):
    save_image(tmp_path / "a" / "1.png", np.zeros((4, 4, 3), np.uint8))
    save_image(tmp_path / "a" / "2.png", np.zeros((5, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="cannot batch images of shapes .*image_size"):
        list(DataLoader(ImageFolder(tmp_path), batch_size=2))
    assert next(iter(DataLoader(ImageFolder(tmp_path, image_size=(5, 4)), batch_size=2)))[0].shape == (2, 3, 5, 4)


def test_image_files_are_unlabelled(tmp_path, save_image):
    save_image(tmp_path / "test1" / "2.jpg", np.zeros((4, 4, 3), np.uint8))
    save_image(tmp_path / "test1" / "10.png", np.full((4, 4), 255, np.uint8))
    ds = ImageFiles(tmp_path / "test1", channels=1)
    assert ds.image_ids == ["10.png", "2.jpg"] and ds.targets is None and ds.classes == []
    image, label = ds[0]
    assert label == -1 and image.tolist() == [[[255] * 4] * 4]
    assert next(iter(DataLoader(ds, batch_size=2)))[1].tolist() == [-1, -1]
    listed = ImageFiles([tmp_path / "test1" / "2.jpg"])
    assert listed.image_ids == [str(tmp_path / "test1" / "2.jpg")] and listed[0][0].shape == (3, 4, 4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files in"):
        ImageFiles(tmp_path / "empty")


def test_symlink_loops_end_and_list_each_image_once(tmp_path, save_image):
    root = _cats_and_dogs(tmp_path / "set", save_image, n=2)
    for folder in ("cats", "dogs"):  # two loops per class: exponential paths if links are followed blindly
        (root / folder / "again").symlink_to(".", target_is_directory=True)
        (root / folder / "up").symlink_to("..", target_is_directory=True)
    ds = ImageFolder(root)
    assert ds.image_ids == ["cats/cat.0.png", "cats/cat.1.png", "dogs/dog.0.jpg", "dogs/dog.1.jpg"]
    assert ds.targets.tolist() == [0, 0, 1, 1]
    assert ImageFiles(root).image_ids == ds.image_ids
    with pytest.raises(DataError, match="cats/up' is a symbolic link to .*, outside the dataset folder"):
        ImageFiles(root / "cats")


def test_symlinks_leaving_the_root_are_refused(tmp_path, save_image):
    root = _cats_and_dogs(tmp_path / "set", save_image, n=1)
    outside = save_image(tmp_path / "elsewhere" / "x.png", np.zeros((2, 2), np.uint8))
    (root / "cats" / "x.png").symlink_to(outside)
    with pytest.raises(DataError, match=r"cats/x.png' is a symbolic link to '.*elsewhere/x.png', outside"):
        ImageFolder(root)
    (root / "cats" / "x.png").unlink()
    (root / "cats" / "more").symlink_to(outside.parent, target_is_directory=True)
    with pytest.raises(DataError, match="cats/more' is a symbolic link to .*elsewhere', outside"):
        ImageFolder(root)
    (root / "cats" / "more").unlink()
    (root / "cats" / "inside.png").symlink_to(root / "dogs" / "dog.0.jpg")  # inside the root: followed
    assert len(ImageFolder(root)) == 3
    linked = tmp_path / "linked"  # the root itself may be a link
    linked.symlink_to(root, target_is_directory=True)
    assert len(ImageFolder(linked)) == 3


def test_fifos_and_broken_links_are_skipped(tmp_path, save_image):
    root = _cats_and_dogs(tmp_path, save_image, n=1)
    os.mkfifo(root / "cats" / "pipe.png")  # opening it would block forever
    (root / "dogs" / "gone.jpg").symlink_to(root / "nowhere.jpg")
    assert ImageFolder(root).image_ids == ["cats/cat.0.png", "dogs/dog.0.jpg"]


def _png_header(width, height):
    """A PNG claiming ``width`` x ``height`` 8-bit gray pixels, with (almost) no pixel data."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def test_decompression_bombs_are_refused_before_decoding(tmp_path, save_image, monkeypatch):
    from npgrad.data.datasets import folder

    huge = tmp_path / "huge.png"  # 10^10 pixels claimed by a 70-byte file
    huge.write_bytes(_png_header(100_000, 100_000))
    with pytest.raises(DataError, match=f"cannot decode image '{huge}': .*exceeds"):
        load_image(huge)
    image = save_image(tmp_path / "a.png", np.zeros((20, 30), np.uint8))
    monkeypatch.setattr(folder, "MAX_IMAGE_PIXELS", 599)  # between the limit and Pillow's 2x, Pillow only warns
    with pytest.raises(DataError, match=r"30x20 pixels exceeds the limit of 599 \(npgrad.data.datasets.folder"):
        load_image(image)
    monkeypatch.setattr(folder, "MAX_IMAGE_PIXELS", 600)
    assert load_image(image).shape == (3, 20, 30)
