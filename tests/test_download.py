"""Downloads, tested for real over HTTP on 127.0.0.1 with archives the tests build."""

import hashlib
import http.server
import io
import threading
from pathlib import Path

import numpy as np
import pytest

from pneumolab import cli
from pneumolab.data import download
from pneumolab.data import manifest as data


@pytest.fixture
def server(tmp_path):
    """A local HTTP server for the files in ``tmp_path / 'www'``; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def fake_pneumoniamnist(size=28) -> bytes:
    """A miniature PneumoniaMNIST archive with the published keys."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 4)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(n, 1).astype(np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def test_medmnist_download_verifies_and_exports_folders(server, tmp_path, monkeypatch):
    www, base = server
    payload = fake_pneumoniamnist()
    (www / "pneumoniamnist_64.npz").write_bytes(payload)
    monkeypatch.setenv(download.MEDMNIST_MIRROR_ENV, base)
    monkeypatch.setitem(download.MEDMNIST_FILES, 64,
                        ("pneumoniamnist_64.npz", hashlib.md5(payload).hexdigest()))

    out = download.download_medmnist(64, tmp_path / "data")

    assert out == tmp_path / "data" / "pneumoniamnist_64"
    manifest = data.build_manifest(out)
    assert manifest.groupby(["split", "label"]).size().to_dict() == {
        ("test", "NORMAL"): 2, ("test", "PNEUMONIA"): 2, ("train", "NORMAL"): 3,
        ("train", "PNEUMONIA"): 3, ("val", "NORMAL"): 1, ("val", "PNEUMONIA"): 1}
    assert manifest["ok"].all() and (manifest["width"] == 28).all()
    assert not list((tmp_path / "data").glob("*.part")), "no partial file left"


def test_checksum_mismatch_is_refused_and_nothing_is_kept(server, tmp_path, monkeypatch):
    www, base = server
    (www / "pneumoniamnist_128.npz").write_bytes(b"not the published file")
    monkeypatch.setenv(download.MEDMNIST_MIRROR_ENV, base)

    code = cli.main(["download", "medmnist", "--size", "128", "--out", str(tmp_path / "data")])

    assert code == 1
    assert list((tmp_path / "data").iterdir()) == []


def test_an_existing_good_file_is_not_downloaded_again(server, tmp_path):
    www, base = server
    payload = b"published bytes"
    md5 = hashlib.md5(payload).hexdigest()
    target = tmp_path / "file.bin"
    target.write_bytes(payload)
    assert download.fetch(f"{base}/absent.bin", target, md5) == target  # the URL would 404


def kaggle_like_cache(tmp_path: Path) -> Path:
    """A folder shaped like kagglehub's copy of the set: a nested duplicate and a __MACOSX folder."""
    cache = tmp_path / "kagglehub" / "versions" / "2"
    for top in (cache / "chest_xray", cache / "chest_xray" / "chest_xray", cache / "__MACOSX" / "chest_xray"):
        for split in ("train", "val", "test"):
            (top / split / "NORMAL").mkdir(parents=True)
            (top / split / "PNEUMONIA").mkdir(parents=True)
    (cache / "chest_xray" / "train" / "NORMAL" / "IM-0001-0001.jpeg").write_bytes(b"x")
    return cache


@pytest.fixture
def kaggle(monkeypatch):
    """kagglehub with its network call substituted: set ``.answer`` to a folder or an exception."""
    import kagglehub

    class FakeKaggle:
        answer: object = None
        calls: list = []

        def dataset_download(self, handle):
            self.calls.append(handle)
            if isinstance(self.answer, BaseException):
                raise self.answer
            return str(self.answer)

    fake = FakeKaggle()
    fake.calls = []
    monkeypatch.setattr(kagglehub, "dataset_download", fake.dataset_download)
    return fake


def refusal(status: int):
    import requests
    from kagglehub.exceptions import KaggleApiHTTPError

    response = requests.Response()
    response.status_code = status
    return KaggleApiHTTPError(f"{status} Client Error.", response=response)


def test_kaggle_layout_is_found_past_the_nested_copy(tmp_path, kaggle):
    kaggle.answer = cache = kaggle_like_cache(tmp_path)

    root = download.download_kaggle(tmp_path / "data")

    assert kaggle.calls == [download.KAGGLE_HANDLE]
    assert root == cache / "chest_xray"
    link = tmp_path / "data" / "chest_xray"
    assert link.is_symlink() and Path(link.resolve()) == root.resolve()
    assert data.find_data_dir(link) == root.resolve()


def test_download_with_no_argument_is_the_full_kaggle_set(tmp_path, kaggle, capsys):
    kaggle.answer = kaggle_like_cache(tmp_path)

    code = cli.main(["download", "--out", str(tmp_path / "data")])

    assert code == 0 and kaggle.calls == [download.KAGGLE_HANDLE]
    assert "finds it from now on" in capsys.readouterr().out
    assert (tmp_path / "data" / "chest_xray" / "train" / "NORMAL" / "IM-0001-0001.jpeg").exists()


@pytest.mark.parametrize("status", [401, 403])
def test_a_kaggle_refusal_says_what_to_do(tmp_path, kaggle, capsys, status):
    kaggle.answer = refusal(status)

    code = cli.main(["download", "--out", str(tmp_path / "data")])

    err = capsys.readouterr().err
    assert code == 1
    assert f"Kaggle refused the download ({status})" in err
    assert "kaggle.json" in err and "PNEUMOLAB_DATA" in err and "Traceback" not in err
    assert not (tmp_path / "data" / "chest_xray").exists()


def test_no_network_says_the_download_resumes(tmp_path, kaggle, capsys):
    import requests

    kaggle.answer = requests.ConnectionError("name resolution failed")

    assert cli.main(["download", "--out", str(tmp_path / "data")]) == 1
    assert "resumes" in capsys.readouterr().err


def test_an_interrupted_download_leaves_nothing_and_the_next_run_completes(tmp_path, kaggle):
    kaggle.answer = KeyboardInterrupt()
    assert cli.main(["download", "--out", str(tmp_path / "data")]) == 130
    assert not (tmp_path / "data" / "chest_xray").exists()

    kaggle.answer = cache = kaggle_like_cache(tmp_path)
    assert cli.main(["download", "--out", str(tmp_path / "data")]) == 0
    assert (tmp_path / "data" / "chest_xray").resolve() == (cache / "chest_xray").resolve()


def test_a_stale_link_is_replaced_but_a_real_folder_is_left_alone(tmp_path, kaggle):
    kaggle.answer = cache = kaggle_like_cache(tmp_path)
    link = tmp_path / "data" / "chest_xray"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "gone", target_is_directory=True)

    download.download_kaggle(tmp_path / "data")
    assert link.resolve() == (cache / "chest_xray").resolve()

    link.unlink()
    (link / "train").mkdir(parents=True)
    with pytest.raises(download.DownloadRefused, match="not a link"):
        download.download_kaggle(tmp_path / "data")
    assert (link / "train").is_dir()


def test_a_medmnist_export_has_neither_patient_ids_nor_causes(server, tmp_path, monkeypatch):
    www, base = server
    payload = fake_pneumoniamnist()
    (www / "pneumoniamnist_28.npz").write_bytes(payload)
    monkeypatch.setenv(download.MEDMNIST_MIRROR_ENV, base)
    md5 = hashlib.md5(payload).hexdigest()
    monkeypatch.setitem(download.MEDMNIST_FILES, 28, ("pneumoniamnist_28.npz", md5))

    manifest = data.build_manifest(download.download_medmnist(28, tmp_path / "data"))

    assert not data.has_patient_ids(manifest)
    assert not data.has_causes(manifest)
