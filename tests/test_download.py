"""`classic download` against a local HTTP server (127.0.0.1) serving archives the test builds."""
import hashlib
import io
import re
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from classic.data.download import DownloadError, DownloadSpec, download_dataset, fetch, safe_extract


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves files with support for 'Range: bytes=N-' (resumable downloads); ``cut[path] = n`` sends
    only the first n bytes of a file and closes the connection (its Content-Length announced in full,
    unless the path is in ``no_length``)."""

    ranges_seen: list[str] = []
    cut: dict[str, int] = {}
    no_length: set[str] = set()

    def log_message(self, *args):
        pass

    def send_head(self):
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        RangeHandler.ranges_seen.append(self.headers.get("Range", ""))
        if self.path in RangeHandler.cut or self.path in RangeHandler.no_length:
            data = open(self.translate_path(self.path), "rb").read()
            self.send_response(200)
            if self.path not in RangeHandler.no_length:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return io.BytesIO(data[:RangeHandler.cut.get(self.path, len(data))])
        if not match:
            return super().send_head()
        path = self.translate_path(self.path)
        data = open(path, "rb").read()
        start = int(match.group(1))
        if start >= len(data):
            self.send_error(416)
            return None
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        return io.BytesIO(data[start:])


@pytest.fixture
def server(tmp_path):
    RangeHandler.cut.clear()
    RangeHandler.no_length.clear()
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def caltech_like_zip(inner: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("caltech-101/101_ObjectCategories.tar.gz", inner)
        z.writestr("caltech-101/Annotations.tar", b"")
    return buffer.getvalue()


def spec(url, inner_md5):
    return DownloadSpec(url=url, filename="caltech-101.zip", md5=None, inner="caltech-101/101_ObjectCategories.tar.gz",
                        inner_md5=inner_md5, target="caltech101", produces="caltech101/101_ObjectCategories")


def test_download_verify_extract(server, tmp_path):
    root, url = server
    inner = make_tar_gz({"101_ObjectCategories/ant/image_0001.jpg": b"jpeg bytes",
                         "101_ObjectCategories/bass/image_0001.jpg": b"more bytes"})
    (root / "caltech-101.zip").write_bytes(caltech_like_zip(inner))
    folder = download_dataset("caltech101", tmp_path / "data", tmp_path / "dl",
                              spec(f"{url}/caltech-101.zip", hashlib.md5(inner).hexdigest()), progress=False)
    assert folder == tmp_path / "data" / "caltech101" / "101_ObjectCategories"
    assert (folder / "ant" / "image_0001.jpg").read_bytes() == b"jpeg bytes"
    # idempotent: a second call finds everything in place
    assert download_dataset("caltech101", tmp_path / "data", tmp_path / "dl",
                            spec(f"{url}/caltech-101.zip", hashlib.md5(inner).hexdigest()), progress=False) == folder


def test_corrupted_archive_is_refused_and_nothing_extracted(server, tmp_path):
    root, url = server
    inner = make_tar_gz({"101_ObjectCategories/ant/image_0001.jpg": b"jpeg bytes"})
    (root / "caltech-101.zip").write_bytes(caltech_like_zip(inner[:-7] + b"garbage"))
    with pytest.raises(DownloadError, match="MD5 mismatch"):
        download_dataset("caltech101", tmp_path / "data", tmp_path / "dl",
                         spec(f"{url}/caltech-101.zip", hashlib.md5(inner).hexdigest()), progress=False)
    assert not (tmp_path / "data" / "caltech101").exists()


def test_member_escaping_the_target_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(make_tar_gz({"101_ObjectCategories/ok.jpg": b"x", "../escaped.txt": b"gotcha"}))
    with pytest.raises(DownloadError, match="outside"):
        safe_extract(archive, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "target" / "101_ObjectCategories").exists()


def test_fetch_resumes_a_partial_download(server, tmp_path):
    root, url = server
    payload = bytes(range(256)) * 4000
    (root / "big.bin").write_bytes(payload)
    dest = tmp_path / "dl" / "big.bin"
    dest.parent.mkdir()
    dest.with_name("big.bin.part").write_bytes(payload[:300_000])       # an interrupted earlier attempt
    RangeHandler.ranges_seen.clear()
    fetch(f"{url}/big.bin", dest, hashlib.md5(payload).hexdigest(), progress=False)
    assert RangeHandler.ranges_seen == ["bytes=300000-"]          # only the missing tail was asked for
    assert dest.read_bytes() == payload
    assert not dest.with_name("big.bin.part").exists()


def test_fetch_reports_http_errors(server, tmp_path):
    _, url = server
    with pytest.raises(DownloadError, match="404"):
        fetch(f"{url}/missing.zip", tmp_path / "x.zip", progress=False)


def test_fastai_imagenet_subsets_are_known_downloads():
    from classic.data.download import DOWNLOADS
    for name in ("imagenette", "imagenette-320", "imagenette-160", "imagewoof", "imagewoof-320", "imagewoof-160"):
        spec = DOWNLOADS[name]
        assert spec.url.startswith("https://s3.amazonaws.com/fast-ai-imageclas/") and spec.url.endswith(spec.filename)
        assert spec.produces == spec.filename.removesuffix(".tgz")
    assert DOWNLOADS["imagenette-160"].md5 == "e793b78cc4c9e9a4ccc0c1155377a412"


def test_a_download_cut_short_is_kept_and_resumed(server, tmp_path):
    root, url = server
    payload = bytes(range(256)) * 4000
    (root / "big.bin").write_bytes(payload)
    dest = tmp_path / "dl" / "big.bin"
    RangeHandler.cut["/big.bin"] = 100_000
    with pytest.raises(DownloadError, match="stopped at 100,000 of 1,024,000 bytes; run the command again to resume"):
        fetch(f"{url}/big.bin", dest, progress=False)                 # no MD5: the length is the check
    assert not dest.exists() and dest.with_name("big.bin.part").stat().st_size == 100_000
    RangeHandler.cut.clear()
    RangeHandler.ranges_seen.clear()
    fetch(f"{url}/big.bin", dest, progress=False)
    assert RangeHandler.ranges_seen == ["bytes=100000-"] and dest.read_bytes() == payload


def stored_tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tgz whose deflate stream is stored blocks (as incompressible JPEGs make it): a flipped byte
    inside a block changes the content without upsetting the decompressor; only gzip's CRC-32 sees it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=0) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def imagewoof_like(url):
    return DownloadSpec(url=f"{url}/imagewoof2.tgz", filename="imagewoof2.tgz", md5=None, target="",
                        produces="imagewoof2")


def test_an_archive_corrupted_mid_stream_without_md5_is_refused_removed_and_fetched_afresh(server, tmp_path):
    root, url = server
    members = {f"imagewoof2/train/n02086240/{i}.JPEG": bytes([i]) * 50_000 for i in range(6)}
    good = stored_tar_gz(members)
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0x55                                   # inside a stored block's content
    (root / "imagewoof2.tgz").write_bytes(bytes(damaged))
    with pytest.raises(DownloadError, match=r"damaged or incomplete archive .*CRC.*removed .*imagewoof2.tgz.*"
                                            r"run `classic download imagewoof-160` again"):
        download_dataset("imagewoof-160", tmp_path / "data", tmp_path / "dl", imagewoof_like(url), progress=False)
    assert not (tmp_path / "data" / "imagewoof2").exists()              # nothing extracted, nothing "ready"
    assert not (tmp_path / "dl" / "imagewoof2.tgz").exists()            # the next attempt fetches it afresh
    (root / "imagewoof2.tgz").write_bytes(good)
    folder = download_dataset("imagewoof-160", tmp_path / "data", tmp_path / "dl", imagewoof_like(url), progress=False)
    assert sorted(p.read_bytes()[0] for p in folder.rglob("*.JPEG")) == list(range(6))


def test_a_truncated_download_with_no_length_and_no_md5_is_not_reused(server, tmp_path):
    """The server announces no length and the connection ends early: the zip is incomplete; it is
    refused (a DownloadError, not zipfile's BadZipFile), removed, and the next attempt downloads it again."""
    root, url = server
    inner = make_tar_gz({"101_ObjectCategories/ant/image_0001.jpg": b"jpeg bytes"})
    archive = caltech_like_zip(inner)
    (root / "caltech-101.zip").write_bytes(archive)
    RangeHandler.no_length.add("/caltech-101.zip")
    RangeHandler.cut["/caltech-101.zip"] = len(archive) // 2
    with pytest.raises(DownloadError, match="caltech-101.zip.*removed.*run `classic download caltech101` again"):
        download_dataset("caltech101", tmp_path / "data", tmp_path / "dl", spec(f"{url}/caltech-101.zip", None),
                         progress=False)
    assert not (tmp_path / "dl" / "caltech-101.zip").exists()
    RangeHandler.cut.clear()
    folder = download_dataset("caltech101", tmp_path / "data", tmp_path / "dl", spec(f"{url}/caltech-101.zip", None),
                              progress=False)
    assert (folder / "ant" / "image_0001.jpg").read_bytes() == b"jpeg bytes"


def test_extraction_works_on_pythons_without_the_data_filter(tmp_path, monkeypatch):
    """requires-python >= 3.10, but extractall(filter=...) arrived in 3.10.12 / 3.11.4: on the versions
    before it, the member checks and mode stripping stand alone."""
    monkeypatch.delattr(tarfile, "data_filter")
    extractall = tarfile.TarFile.extractall

    def old_extractall(self, path=".", members=None, *, numeric_owner=False):     # no filter keyword
        return extractall(self, path, members, numeric_owner=numeric_owner)
    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        info = tarfile.TarInfo("data/tool")
        info.size, info.mode = 3, 0o4777                                 # set-user-ID, writable by all
        t.addfile(info, io.BytesIO(b"abc"))
    (tmp_path / "ok.tgz").write_bytes(buffer.getvalue())
    safe_extract(tmp_path / "ok.tgz", tmp_path / "out")
    assert (tmp_path / "out" / "data" / "tool").stat().st_mode & 0o7777 == 0o755
    (tmp_path / "evil.tgz").write_bytes(make_tar_gz({"../escaped.txt": b"gotcha"}))
    with pytest.raises(DownloadError, match="outside"):
        safe_extract(tmp_path / "evil.tgz", tmp_path / "out2")


def test_a_zip_member_failing_its_crc_is_refused_and_nothing_extracted(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("ds/a.jpg", b"A" * 10_000)
        z.writestr("ds/b.jpg", b"B" * 10_000)
    damaged = bytearray(buffer.getvalue())
    damaged[5_000] ^= 0x55                                   # inside a.jpg's stored bytes
    (tmp_path / "x.zip").write_bytes(bytes(damaged))
    with pytest.raises(DownloadError, match="Bad CRC-32 for file 'ds/a.jpg'"):
        safe_extract(tmp_path / "x.zip", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zip"]      # no target, no staging folder
