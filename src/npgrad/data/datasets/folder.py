"""Datasets of image files: `ImageFolder` (one sub-folder per class), `ImageFiles` (unlabelled),
and the decoding helper `load_image` they and `CSVImageDataset` share.

Images are decoded with Pillow when an item is read. With ``on_error='skip'`` every file is
test-decoded once when the dataset is built (in a thread pool; JPEGs at 1/8 scale, which
still reads all their data): files that fail are dropped with one warning giving their count.
With ``on_error='raise'`` (the default) nothing is decoded up front and an unreadable file
raises ``ValueError: cannot decode image '<path>': <reason>`` when its item is read.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from npgrad.data.dataset import UNLABELLED, Dataset
from npgrad.errors import DataError, MissingFileError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
# Images with more pixels are refused before decoding (Pillow's default limit, 89.5 megapixels: a
# 0.5 GB RGB bitmap); Pillow itself only warns below twice that. Raise it for huge legitimate scans.
MAX_IMAGE_PIXELS = 89_478_485
_DECODE_CHUNK = 1024  # files test-decoded per batch of thread-pool work (on_error='skip')
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")

ImageSize = int | tuple[int, int]


def _size_hw(image_size: ImageSize | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    if h <= 0 or w <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return int(h), int(w)


def _check_channels(channels: int) -> None:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")


def load_image(path: str | os.PathLike, image_size: ImageSize | None = None, channels: int = 3) -> np.ndarray:
    """Decode an image file (any format and mode Pillow reads) into ``uint8 (C, H, W)``.

    Args:
        image_size: resize to ``(h, w)`` (an int = square) with Pillow's antialiased bilinear
            filter; ``None`` keeps the file's size.
        channels: 1 converts to grayscale (``L``), 3 to ``RGB``. Palette images go through
            RGBA, alpha is dropped, 16-bit images are scaled 65535 -> 255, CMYK is converted.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: ``cannot decode image '<path>': <Pillow's reason>``, also for an image of more
            than `MAX_IMAGE_PIXELS` pixels (a decompression bomb), refused before its pixels are decoded.
    """
    from PIL import Image

    _check_channels(channels)
    size = _size_hw(image_size)
    mode = "L" if channels == 1 else "RGB"
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError(f"{im.width}x{im.height} pixels exceeds the limit of {MAX_IMAGE_PIXELS} "
                                                   "(npgrad.data.datasets.folder.MAX_IMAGE_PIXELS)")
            if size is not None:
                im.draft(None, (size[1], size[0]))  # JPEG: decode at the smallest DCT scale >= size
            if im.mode in _SIXTEEN_BIT_MODES:
                wide = np.clip(np.asarray(im, dtype=np.int64), 0, 65535)
                im = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8))
            if im.mode in ("P", "PA"):
                im = im.convert("RGBA")  # palette transparency is resolved before dropping alpha
            im = im.convert(mode) if im.mode != mode else im
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot decode image '{path}': {e}") from e
    return pixels[None] if channels == 1 else np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _decode_error(path: str) -> str | None:
    """Why ``path`` cannot be decoded, or None when it can (a cheap full read, see the module doc)."""
    try:
        load_image(path, image_size=1, channels=1)
    except (OSError, ValueError) as e:
        return str(e)
    return None


class ImageFileDataset(Dataset):
    """Base of the datasets whose items are image files decoded on access.

    Attributes:
        paths: the file of each item.
        image_ids: each item's identifier as its source names it (the CSV value, or the path
            relative to the folder), for writing predictions back.
        samples: ``(path, label)`` per item (label -1 when unlabelled).
        targets: int64 labels, or None when unlabelled.
    """

    def __init__(self, paths: Sequence[str], image_ids: Sequence[str], labels: Sequence[int] | None,
                 classes: Sequence[str], image_size: ImageSize | None, channels: int, on_error: str) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        _check_channels(channels)
        self.image_size = _size_hw(image_size)
        self.channels = channels
        self.on_error = on_error
        self.classes = list(classes)
        self.unreadable: list[tuple[str, str]] = []  # (path, why) of the files on_error='skip' dropped
        keep = self._readable(paths) if on_error == "skip" else range(len(paths))
        self.paths = [str(paths[i]) for i in keep]
        self.image_ids = [image_ids[i] for i in keep]
        self.targets = None if labels is None else np.array([labels[i] for i in keep], dtype=np.int64)
        if not self.paths:
            raise DataError(f"{type(self).__name__}: no readable images")

    def _readable(self, paths: Sequence[str]) -> list[int]:
        """Indices of the decodable files; warns once about the others."""
        from concurrent.futures import ThreadPoolExecutor

        errors: list[str | None] = []
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for start in range(0, len(paths), _DECODE_CHUNK):  # never a future per file of a huge set at once
                errors += pool.map(_decode_error, paths[start:start + _DECODE_CHUNK])
        bad = [i for i, e in enumerate(errors) if e is not None]
        self.unreadable = [(str(paths[i]), str(errors[i])) for i in bad]
        if bad:
            warnings.warn(f"{type(self).__name__}: skipped {len(bad)} of {len(paths)} images that cannot be decoded "
                          f"(first: {errors[bad[0]]})", stacklevel=4)
        return [i for i, e in enumerate(errors) if e is None]

    @property
    def samples(self) -> list[tuple[str, int]]:
        labels = [UNLABELLED] * len(self.paths) if self.targets is None else self.targets.tolist()
        return list(zip(self.paths, labels))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        label = UNLABELLED if self.targets is None else int(self.targets[index])
        return load_image(self.paths[index], self.image_size, self.channels), label


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([root, path]) == root


def _image_files(folder: Path, extensions: Sequence[str], root: Path | None = None) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; hidden files and folders are ignored.

    Symbolic links are followed as long as they stay inside ``root`` (default ``folder``): a link
    whose target is outside raises `DataError`. A folder is read once however many links lead
    to it (so link loops end; a link back to ``root`` is not followed), and only regular files
    count (FIFOs, sockets, devices and broken links are skipped).
    """
    extensions = tuple(e.lower() for e in extensions)
    real_root = os.path.realpath(root if root is not None else folder)
    found, pending = [], [os.fspath(folder)]
    visited = {real_root} if root is not None else set()
    while pending:
        directory = pending.pop()
        real = os.path.realpath(directory)
        if not _inside(real, real_root):
            raise DataError(f"'{directory}' is a symbolic link to '{real}', outside the dataset folder '{real_root}'")
        if real in visited:  # a link loop, or a second link to the same folder
            continue
        visited.add(real)
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    pending.append(entry.path)
                elif entry.is_file() and entry.name.lower().endswith(extensions):
                    target = os.path.realpath(entry.path) if entry.is_symlink() else None
                    if target is not None and not _inside(target, real_root):
                        raise DataError(f"'{entry.path}' is a symbolic link to '{target}', outside the dataset "
                                        f"folder '{real_root}'")
                    found.append(Path(entry.path))
    return sorted(found)


def _existing_folder(root: str | os.PathLike, what: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise MissingFileError(f"{what}: no folder '{root}'")
    return root


class ImageFolder(ImageFileDataset):
    """Labelled images laid out as ``root/<class_name>/<image files>`` (sub-folders allowed).

    Classes are the sub-folder names sorted (or ``classes``, e.g. the training set's, so a
    test folder gets the same label indices). A train/test pair such as Kaggle's
    cats-and-dogs ``dataset/training_set/{cats,dogs}`` and ``dataset/test_set/{cats,dogs}``
    is two ImageFolders.

    Args:
        root: the folder of class folders.
        image_size: resize every image to ``(h, w)`` (int = square) when decoding; ``None``
            keeps each file's size (then the DataLoader needs them all equal).
        channels: 1 (grayscale) or 3 (RGB), whatever the files' modes.
        on_error: ``'raise'`` or ``'skip'`` unreadable files (see the module docstring).
        classes: the class list to use; every sub-folder must be in it.
        extensions: file name endings that count as images (case-insensitive).

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: no class folders, an empty class folder, or a folder not in ``classes``.
        DataError (a ValueError): a symbolic link leads outside ``root`` (links inside it are
            followed, each folder once, so link loops end; FIFOs and other non-regular files are skipped).
    """

    def __init__(self, root: str | os.PathLike, image_size: ImageSize | None = None, channels: int = 3,
                 on_error: str = "raise", classes: Sequence[str] | None = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS) -> None:
        self.root = _existing_folder(root, "ImageFolder")
        folders = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not folders:
            raise DataError(f"ImageFolder: no class folders in '{self.root}'; expected {self.root}/<class_name>/<images>")
        classes = folders if classes is None else list(classes)
        unknown = [f for f in folders if f not in classes]
        if unknown:
            raise DataError(f"ImageFolder: folder '{self.root / unknown[0]}' is not one of the known classes {classes}")
        paths, labels = [], []
        for name in folders:
            files = _image_files(self.root / name, extensions, root=self.root)
            if not files:
                raise DataError(f"ImageFolder: class folder '{self.root / name}' has no image files "
                                 f"({', '.join(extensions)})")
            paths += files
            labels += [classes.index(name)] * len(files)
        ids = [p.relative_to(self.root).as_posix() for p in paths]
        super().__init__([str(p) for p in paths], ids, labels, classes, image_size, channels, on_error)


class ImageFiles(ImageFileDataset):
    """Unlabelled images, for prediction: every image file under a folder, or a list of files.

    Items are ``(image, -1)``; ``targets`` is None; ``image_ids`` are the paths relative to
    the folder (or the paths as given). Arguments as for `ImageFolder`.
    """

    def __init__(self, source: str | os.PathLike | Sequence[str | os.PathLike], image_size: ImageSize | None = None,
                 channels: int = 3, on_error: str = "raise", extensions: Sequence[str] = IMG_EXTENSIONS) -> None:
        if isinstance(source, (str, os.PathLike)):
            root = _existing_folder(source, "ImageFiles")
            paths = _image_files(root, extensions)
            if not paths:
                raise DataError(f"ImageFiles: no image files in '{root}' ({', '.join(extensions)})")
            ids = [p.relative_to(root).as_posix() for p in paths]
        else:
            paths = [Path(p) for p in source]
            ids = [str(p) for p in source]
        super().__init__([str(p) for p in paths], ids, None, [], image_size, channels, on_error)
