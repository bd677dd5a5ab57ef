import gzip
import hashlib
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from npgrad.data import FashionMNIST
from npgrad.data.datasets._download import download_files
from npgrad.data.datasets.idx import write_idx

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


class QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        QuietHandler.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server: /good/ serves valid gz IDX files, /bad/ the same names with corrupted bytes.

    Yields ``(base_url, md5s)`` with the MD5 of each good file.
    """
    good, bad = tmp_path / "www" / "good", tmp_path / "www" / "bad"
    good.mkdir(parents=True)
    bad.mkdir()
    write_idx(good / FILES[0], np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28))
    write_idx(good / FILES[1], np.array([3, 1, 4, 1], dtype=np.uint8))
    md5s = {}
    for name in FILES:
        data = (good / name).read_bytes()
        md5s[name] = hashlib.md5(data).hexdigest()
        (bad / name).write_bytes(data[:-8] + bytes(8))
    QuietHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(tmp_path / "www")))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", md5s
    server.shutdown()
    server.server_close()


@pytest.fixture
def checksums(monkeypatch, mirror):
    """Make FashionMNIST expect the test files' MD5s."""
    monkeypatch.setattr(FashionMNIST, "RESOURCES", {**FashionMNIST.RESOURCES, **mirror[1]})


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def test_download_fetches_verifies_and_loads(tmp_path, mirror, checksums):
    root = tmp_path / "data"
    ds = FashionMNIST(root, download=True, mirrors=[mirror[0] + "/good/"])
    assert len(ds) == 4 and ds.targets.tolist() == [3, 1, 4, 1]
    assert sorted(p.name for p in root.iterdir()) == sorted(FILES)  # no temporary files left
    assert (root / FILES[0]).read_bytes() == (tmp_path / "www" / "good" / FILES[0]).read_bytes()


def test_existing_files_are_not_downloaded_again(tmp_path, mirror, checksums):
    root = tmp_path / "data"
    FashionMNIST(root, download=True, mirrors=[mirror[0] + "/good/"])
    count = len(QuietHandler.requests)
    FashionMNIST(root, download=True, mirrors=[mirror[0] + "/good/"])
    assert len(QuietHandler.requests) == count == 2


def test_checksum_mismatch_raises_and_leaves_nothing(tmp_path, mirror, checksums):
    root = tmp_path / "data"
    expected = mirror[1][FILES[0]]
    with pytest.raises(ValueError, match=rf"{FILES[0]}: md5 checksum mismatch for .*/bad/{FILES[0]}: "
                                         rf"expected {expected}, got [0-9a-f]{{32}}"):
        FashionMNIST(root, download=True, mirrors=[mirror[0] + "/bad/"])
    assert list(root.iterdir()) == []


def test_next_mirror_is_tried_after_a_failure(tmp_path, mirror, checksums):
    mirrors = [_closed_port_url(), mirror[0] + "/missing/", mirror[0] + "/bad/", mirror[0] + "/good"]
    assert len(FashionMNIST(tmp_path, download=True, mirrors=mirrors)) == 4
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(FILES)


def test_offline_error_lists_the_files_and_the_folder(tmp_path, checksums):
    root = tmp_path / "data"
    with pytest.raises(RuntimeError) as info:
        FashionMNIST(root, download=True, mirrors=[_closed_port_url()])
    message = str(info.value)
    assert all(name in message for name in FILES) and str(root.resolve()) in message
    assert "could not download" in message and list(root.iterdir()) == []


def test_sha256_digests_are_accepted(tmp_path, mirror):
    data = (tmp_path / "www" / "good" / FILES[1]).read_bytes()
    download_files({FILES[1]: hashlib.sha256(data).hexdigest()}, tmp_path / "d", [mirror[0] + "/good/"], timeout=5)
    assert gzip.decompress((tmp_path / "d" / FILES[1]).read_bytes())[-4:] == bytes([3, 1, 4, 1])
    with pytest.raises(ValueError, match="neither an MD5 nor a SHA-256"):
        download_files({FILES[1]: "abc"}, tmp_path / "d", [mirror[0]])
