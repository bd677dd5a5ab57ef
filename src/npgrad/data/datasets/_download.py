"""Fetch dataset files from mirror URLs, verified and written atomically."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

TIMEOUT = 30.0
"""Seconds to wait for a mirror to connect or send data."""

_CHUNK = 1 << 20


def _algorithm(digest: str) -> str:
    """"md5" or "sha256", from the length of the hex ``digest``."""
    algorithms = {32: "md5", 64: "sha256"}
    if len(digest) not in algorithms:
        raise ValueError(f"checksum {digest!r} is neither an MD5 nor a SHA-256 hex digest")
    return algorithms[len(digest)]


class ChecksumError(ValueError):
    """A downloaded file's digest is not the expected one."""


def _fetch(url: str, target: Path, digest: str, timeout: float) -> None:
    """Download ``url`` to ``target`` via a temporary file in the same folder; nothing is left on failure."""
    import urllib.request

    hasher = hashlib.new(_algorithm(digest))
    tmp_name = target.with_name(f".{target.name}.{os.urandom(6).hex()}.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp_name, "xb") as out:
            while chunk := response.read(_CHUNK):
                hasher.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = hasher.hexdigest()
        if actual != digest.lower():
            raise ChecksumError(f"{target.name}: {hasher.name} checksum mismatch for {url}: "
                                f"expected {digest.lower()}, got {actual}")
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def download_files(resources: Mapping[str, str], root: str | os.PathLike, mirrors: Sequence[str], *,
                   dataset: str = "dataset", timeout: float | None = None) -> None:
    """Download each ``file name -> MD5 or SHA-256 hex digest`` of ``resources`` into ``root``.

    Each file is tried on every mirror in turn (URL = mirror + file name) until one serves
    it with the right digest.

    Raises:
        ChecksumError (a ValueError): some mirror answered but no mirror served the expected
            bytes; names the file and both digests.
        RuntimeError: no mirror could be reached (offline, DNS, HTTP errors, time-out); lists
            the files to place in ``root`` by hand.
    """
    import urllib.error

    for digest in resources.values():
        _algorithm(digest)  # a malformed digest is a programming error, not a failed mirror
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name, digest in resources.items():
        failures: list[str] = []
        mismatch: ChecksumError | None = None
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                _fetch(url, root / name, digest, TIMEOUT if timeout is None else timeout)
                break
            except ChecksumError as e:
                mismatch = e
            except (urllib.error.URLError, OSError, ValueError) as e:  # HTTPError and timeouts are URLError/OSError
                failures.append(f"{url}: {getattr(e, 'reason', e)}")
        else:
            if mismatch is not None:
                raise mismatch
            raise RuntimeError(
                f"{dataset}: could not download {name} ({'; '.join(failures) or 'no mirrors given'}). "
                f"Without network access, place these files (gzipped or not) in {root.resolve()}: "
                + ", ".join(resources))
