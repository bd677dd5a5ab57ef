"""`CSVImageDataset`: images listed in a CSV file (a Kaggle ``train.csv`` / ``test.csv``)."""

from __future__ import annotations

import csv
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path

from npgrad.data.datasets.folder import ImageFileDataset, ImageSize
from npgrad.errors import DataError


def _sorted_classes(names: set[str]) -> list[str]:
    """Sorted class names: numerically when every name is an integer, else as strings."""
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=lambda n: (int(n), n))  # '1' before '01': never the set's (hash) order
    return sorted(names)


def _real_file(path: str, real_folders: dict[str, str]) -> tuple[str, bool]:
    """``(os.path.realpath(path), whether that is a regular file)`` for a normalised absolute ``path``.

    Each folder is resolved once (``real_folders`` caches them), then one ``lstat`` per file: realpath
    lstats every component of every path, 110 µs a row, most of a million-row CSV's load time.
    """
    folder, file_name = os.path.split(path)
    real_folder = real_folders.get(folder)
    if real_folder is None:
        real_folder = real_folders[folder] = os.path.realpath(folder)
    real = real_folder.rstrip(os.sep) + os.sep + file_name  # not os.path.join: a quarter of the row's time
    try:
        mode = os.lstat(real).st_mode
    except OSError:
        return real, False
    if stat.S_ISLNK(mode):
        real = os.path.realpath(real)
        return real, os.path.isfile(real)
    return real, stat.S_ISREG(mode)


def _warn_of_repeats(name: str, rows: list[tuple[int, str, str]], paths: list[str]) -> None:
    """Warn, naming lines, of images (files, however written) listed more than once: kept as listed
    (oversampling may be meant), but a repeat with another label is worth a look (one UserWarning a kind)."""
    first: dict[str, tuple[int, str]] = {}
    same, other = [], []
    for (line, value, label), path in zip(rows, paths):
        seen_line, seen_label = first.setdefault(path, (line, label))
        if seen_line != line:
            (same if label == seen_label else other).append(f"line {line} repeats line {seen_line} ({value!r})")
    for repeats, what in ((same, "with the same label: each copy is a sample"),
                          (other, "with ANOTHER label: both samples are kept")):
        if repeats:
            more = f" and {len(repeats) - 3} more" if len(repeats) > 3 else ""
            warnings.warn(f"{name}: {len(repeats)} rows list an image again {what}; {'; '.join(repeats[:3])}{more}",
                          UserWarning, stacklevel=3)


class CSVImageDataset(ImageFileDataset):
    """Images named by a CSV column, labelled by another column's class names.

    Labels are indices into ``classes``: the sorted distinct label values (numerically
    sorted when they are all integers), or the ``classes`` given (e.g. the training set's,
    so a validation CSV gets the same indices). ``image_ids`` keeps the image column's
    values exactly as written, to write predictions back (``image,label`` rows).

    Args:
        csv_path: the CSV file (UTF-8, a header row naming the columns).
        image_root: the folder image paths are relative to (default: the CSV's folder). A
            path that leads outside it (``../``, absolute paths, symbolic links) is an error.
        image_col: the column of image paths.
        label_col: the column of class names; ``None`` for an unlabelled CSV (such as a
            Kaggle ``test.csv``), whose items are ``(image, -1)`` and ``targets`` None.
        suffix: appended to each image value to form the file name (for CSVs of bare ids,
            e.g. ``".png"``).
        image_size, channels, on_error: as for `ImageFolder`.
        classes: the class list to use; a label outside it is an error.

    Raises:
        DataError (a ValueError): naming the CSV (and line): a missing column, no rows, an
            empty value, a path escaping ``image_root``, a label outside ``classes``, a file
            that is not UTF-8 or not CSV (a field longer than ``csv.field_size_limit()``).
        FileNotFoundError: a listed image does not exist (``on_error='raise'``; with
            ``'skip'`` it is skipped like an undecodable one).

    Warns (UserWarning, naming lines) when an image is listed twice: both rows are kept.
    """

    def __init__(self, csv_path: str | os.PathLike, image_root: str | os.PathLike | None = None,
                 image_col: str = "image", label_col: str | None = "label", image_size: ImageSize | None = None,
                 channels: int = 3, on_error: str = "raise", classes: Sequence[str] | None = None,
                 suffix: str = "") -> None:
        self.csv_path = Path(csv_path)
        self.image_root = Path(image_root) if image_root is not None else self.csv_path.parent
        name = self.csv_path.name
        try:
            with open(self.csv_path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                try:
                    columns = next(reader, [])
                    position = {col: i for i, col in enumerate(columns)}  # a repeated name: its last column
                    for col in (image_col, label_col):
                        if col is not None and col not in position:
                            hint = " (pass label_col=None for an unlabelled CSV)" if col == label_col else ""
                            raise DataError(f"{name}: no column {col!r}; the columns are {columns}{hint}")
                    # csv.reader, not DictReader: no dict per row (a third of the parsing time). Blank lines are
                    # skipped and a short row's missing fields are empty, as DictReader does.
                    image_at, label_at = position[image_col], position.get(label_col)
                    rows = [(reader.line_num, row[image_at] if image_at < len(row) else "",
                             (row[label_at] if label_at < len(row) else "").strip() if label_at is not None else "")
                            for row in reader if row]
                except csv.Error as e:  # e.g. a field longer than csv.field_size_limit()
                    raise DataError(f"{name}, line {reader.line_num}: malformed CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{name}: not UTF-8 text ({e.reason}: byte 0x{e.object[e.start]:02x}); save the CSV as UTF-8") \
                from None
        if not rows:
            raise DataError(f"{name}: no rows after the header")

        root = os.path.abspath(self.image_root)
        root_dir = os.path.join(root, "")  # with a trailing separator
        inside = os.path.join(os.path.realpath(root), "")
        real_folders: dict[str, str] = {}
        paths = []
        for line, value, label in rows:
            if not value or (label_col and not label):
                column = image_col if not value else label_col
                raise DataError(f"{name}, line {line}: empty {column!r} value")
            if "\0" in value:
                raise DataError(f"{name}, line {line}: image path {value!r} contains a NUL byte")
            file = value + suffix  # an absolute path stays one, as with os.path.join, and is then refused
            path = os.path.normpath(file if os.path.isabs(file) else root_dir + file)
            real, is_file = _real_file(path, real_folders)  # a symbolic link inside the root may lead out of it
            if not (real + os.sep).startswith(inside):
                raise DataError(f"{name}, line {line}: image path {value!r} escapes the image root '{self.image_root}'")
            if on_error == "raise" and not is_file:
                raise FileNotFoundError(f"{name}, line {line}: image file '{path}' not found")
            paths.append(path)
        _warn_of_repeats(name, rows, paths)

        labels = None
        if label_col is not None:
            classes = _sorted_classes({label for _, _, label in rows}) if classes is None else list(classes)
            index = {c: i for i, c in enumerate(classes)}
            for line, _, label in rows:
                if label not in index:
                    raise DataError(f"{name}, line {line}: label {label!r} is not one of the known classes {classes}")
            labels = [index[label] for _, _, label in rows]
        ids = [value for _, value, _ in rows]
        super().__init__(paths, ids, labels, classes or [], image_size, channels, on_error)
