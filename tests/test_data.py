import re

import numpy as np
import pytest
from PIL import Image

from classic.data import (DatasetNotFound, DigitsDataset, ImageError, ImageFolderDataset, caltech101, data_root,
                          load_image)
from classic.data.datasets import read_split_file
from conftest import CALTECH, SPLIT_FILE


@pytest.fixture
def image_files(tmp_path, caltech_images):
    """One real photo saved in the formats and modes that real datasets contain."""
    rgb = Image.open(CALTECH / "sunflower/image_0010.jpg").convert("RGB")
    files = {}
    files["rgb.jpg"] = rgb
    files["gray.jpg"] = rgb.convert("L")
    files["cmyk.jpg"] = rgb.convert("CMYK")
    files["palette.png"] = rgb.convert("P")
    files["rgba.png"] = rgb.convert("RGBA")
    files["large.jpg"] = rgb.resize((1600, 1200))
    paths = {}
    for name, im in files.items():
        im.save(tmp_path / name)
        paths[name] = tmp_path / name
    sixteen = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(sixteen).save(tmp_path / "gray16.png")
    paths["gray16.png"] = tmp_path / "gray16.png"
    return paths


def test_every_mode_decodes_to_float_in_unit_range(image_files):
    reference = load_image(image_files["rgb.jpg"], "gray", None)
    for name, path in image_files.items():
        for mode in ("gray", "rgb"):
            im = load_image(path, mode, 300)
            assert im.dtype == np.float32 and 0 <= im.min() and im.max() <= 1
            assert im.ndim == (2 if mode == "gray" else 3)
            assert max(im.shape[:2]) <= 300
        if name not in ("large.jpg",):
            gray = load_image(path, "gray", None)
            assert gray.shape == reference.shape
            # same picture whatever the storage (palette quantisation and JPEG CMYK loss allowed for)
            assert np.abs(gray - reference).mean() < 0.05, name


def test_large_jpeg_is_downscaled_to_max_side(image_files):
    im = load_image(image_files["large.jpg"], "gray", 300)
    assert im.shape == (225, 300)
    # the DCT-domain shortcut must not change the picture: compare with a plain full decode + resize
    plain = Image.open(image_files["large.jpg"]).convert("L").resize((300, 225), Image.Resampling.LANCZOS)
    assert np.abs(im - np.asarray(plain, np.float32) / 255).mean() < 0.02


def test_bad_files_raise_image_error_naming_the_file(tmp_path):
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(good)
    (tmp_path / "truncated.jpg").write_bytes(good.read_bytes()[:2000])
    for name in ("text.jpg", "empty.png", "truncated.jpg", "missing.jpg"):
        with pytest.raises(ImageError, match=name):
            load_image(tmp_path / name)


def test_caltech101_listing_and_standard_protocol(data_root):
    ds = caltech101(data_root, n_train=30, n_test=50, n_splits=2, seed=0)
    assert len(ds.class_names) == 102 and "BACKGROUND_Google" in ds.class_names
    assert len(ds.refs) == 9144
    # the stray BACKGROUND_Google/tmp (JPEG bytes, no image extension) is not one of the 9,144 images
    assert ds.skipped == [{"file": "BACKGROUND_Google/tmp", "reason": "not an image file (extension)"}]
    a, b = ds.splits()
    for split in (a, b):
        counts = np.bincount(split.train_labels, minlength=102)
        assert np.all(counts == 30)
        test_counts = np.bincount(split.test_labels, minlength=102)
        assert test_counts.max() == 50 and test_counts.min() >= 1
        assert not set(split.train) & set(split.test)
    assert a.train != b.train                       # different seeds, different splits
    assert caltech101(data_root, n_splits=1, seed=0).splits()[0].train == a.train     # reproducible
    without = caltech101(data_root, include_background=False)
    assert len(without.class_names) == 101 and "BACKGROUND_Google" not in without.class_names


def test_shared_split_file(data_root):
    ds = caltech101(data_root, split_file=SPLIT_FILE, n_splits=2)
    shared, random = ds.splits()
    assert (len(shared.train), len(shared.test)) == (3060, 2995)
    assert shared.name == SPLIT_FILE.stem and random.name == "seed1"
    for ref, label in zip(shared.test[:50], shared.test_labels[:50]):
        assert ref.split("/")[0] == ds.class_names[label]
        assert (CALTECH / ref).is_file()


def test_split_file_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("train a/1.jpg a\nvalidation a/2.jpg a\n")
    with pytest.raises(ValueError, match="bad.txt:2"):
        read_split_file(bad, ["a"])


def test_folder_dataset_with_separate_test_root(tmp_path):
    for part, n in (("train", 4), ("val", 2)):
        for c in ("cat", "dog"):
            (tmp_path / part / c).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / part / c / f"{i}.JPEG")
    (tmp_path / "train" / "cat" / "notes.txt").write_text("x")
    ds = ImageFolderDataset(tmp_path / "train", test_root=tmp_path / "val", n_train=3)
    (split,) = ds.splits()
    assert len(split.train) == 6 and len(split.test) == 4
    assert split.test[0].startswith("test:") and ds.load(split.test[0]).shape == (20, 20)
    assert {"file": "cat/notes.txt", "reason": "not an image file (extension)"} in ds.skipped


def test_a_relative_folder_is_looked_up_where_the_user_stands_then_under_the_data_root(tmp_path, monkeypatch):
    from classic.data import open_dataset
    for where in ("here", "data/there"):
        for c in ("cat", "dog"):
            (tmp_path / where / "tree" / c).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / where / "tree" / c / f"{i}.jpg")
    monkeypatch.chdir(tmp_path / "here")
    assert open_dataset("folder", tmp_path / "data/there", root="tree", n_train=2).root == tmp_path / "here/tree"
    monkeypatch.chdir(tmp_path)
    assert open_dataset("folder", tmp_path / "data/there", root="tree", n_train=2).root == tmp_path / "data/there/tree"
    with pytest.raises(DatasetNotFound, match="'nowhere' not found in the current directory .* nor under the data root"):
        open_dataset("folder", tmp_path / "data/there", root="nowhere")


def test_a_folder_with_train_and_val_is_split_by_them(tmp_path):
    from classic.data import open_dataset
    for part, n in (("train", 4), ("val", 2)):
        for c in ("cat", "dog"):
            (tmp_path / "mine" / part / c).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / "mine" / part / c / f"{i}.jpg")
    (split,) = open_dataset("folder", tmp_path, root="mine", n_train=None).splits()
    assert len(split.train) == 8 and len(split.test) == 4 and split.test[0].startswith("test:")


def test_missing_dataset_names_path_and_fix(tmp_path):
    with pytest.raises(DatasetNotFound, match=r"classic download caltech101"):
        caltech101(tmp_path)


def test_data_root_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("CLASSIC_DATA", raising=False)
    monkeypatch.setenv("CLASSIC_CACHE", str(tmp_path / "c"))
    assert data_root() == tmp_path / "c" / "datasets"
    monkeypatch.setenv("CLASSIC_DATA", str(tmp_path / "d"))
    assert data_root() == tmp_path / "d"
    assert data_root(tmp_path / "e") == tmp_path / "e"


def test_digits_dataset():
    ds = DigitsDataset(n_train=10, n_test=5, size=32)
    (split,) = ds.splits()
    assert len(split.train) == 100 and len(split.test) == 50
    im = ds.load(split.train[0])
    assert im.shape == (32, 32) and im.dtype == np.float32 and im.max() <= 1


def odd_dataset(root):
    """A class-per-folder tree with every kind of entry a listing can meet: returns (root, the records
    expected in ``skipped``: file -> words of the reason)."""
    import os
    from conftest import make_image_folder
    make_image_folder(root, {"a": 3, "b": 3, "locked": 2, "empty": 0})
    (root / "loop").symlink_to(root / "loop")                       # a class-level symlink loop
    os.symlink("nowhere", root / "dangling_class")
    (root / "README.txt").write_text("not a class")
    (root / "a" / "self.jpg").symlink_to(root / "a" / "self.jpg")    # a loop where an image would be
    os.symlink("nowhere.jpg", root / "a" / "dangling.jpg")
    (root / "a" / "x.jpg").mkdir()                                  # a folder named like an image
    os.mkfifo(root / "b" / "pipe.png")
    (root / "b" / "notes.txt").write_text("not an image")
    (root / "b" / ".DS_Store").write_bytes(b"\0")                    # hidden: ignored, not recorded
    return root, {"loop": "symbolic link loop", "dangling_class": "broken symbolic link",
                  "README.txt": "not a class folder: a file", "a/self.jpg": "symbolic link loop",
                  "a/dangling.jpg": "broken symbolic link", "a/x.jpg": "a folder",
                  "b/pipe.png": "not a regular file", "b/notes.txt": "not an image file",
                  "locked/": "cannot be listed (permission denied): class left out",
                  "empty/": "no image file in the class folder: class left out"}


def lock_folder(monkeypatch, name):
    """``name`` cannot be listed: chmod 000 does not stop root (the tests may run as root), so its
    listing is refused where the operating system would refuse it."""
    import os
    scandir = os.scandir

    def refusing(path="."):
        if os.path.basename(os.fspath(path)) == name:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)
    monkeypatch.setattr(os, "scandir", refusing)


def test_listing_skips_and_records_every_entry_it_cannot_use(tmp_path, monkeypatch):
    root, expected = odd_dataset(tmp_path / "odd")
    lock_folder(monkeypatch, "locked")
    ds = ImageFolderDataset(root, n_train=2, n_test=1)
    assert ds.class_names == ["a", "b"] and len(ds.refs) == 6
    skipped = {s["file"]: s["reason"] for s in ds.skipped}
    assert set(skipped) == set(expected)
    for name, words in expected.items():
        assert words in skipped[name], name


def test_an_unlistable_dataset_folder_is_a_clear_error(tmp_path, monkeypatch):
    from conftest import make_image_folder
    make_image_folder(tmp_path / "ds", {"a": 1})
    lock_folder(monkeypatch, "ds")
    with pytest.raises(DatasetNotFound, match="cannot be listed.*permission denied"):
        ImageFolderDataset(tmp_path / "ds")


def huge_png(path, width: int, height: int) -> None:
    """A valid gray PNG of width x height black pixels, written row by row (a few hundred KB on disk)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    compressor, parts, row = zlib.compressobj(9), [], bytes(width + 1)        # filter byte 0 + pixels
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def test_decoding_bounds_memory_before_it_allocates(tmp_path):
    """A 14,000 x 14,000 PNG (~200 KB) is refused from its header, in a fraction of a second and
    without the ~1 GB a decode would take (measured in a process of its own); a large JPEG is decoded
    at reduced size instead, within the limit."""
    import subprocess
    import sys
    huge_png(tmp_path / "huge.png", 14_000, 14_000)
    assert (tmp_path / "huge.png").stat().st_size < 1_000_000
    probe = (f"import resource, time\nfrom classic.data import ImageError, load_image\n"
             f"before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nstart = time.perf_counter()\n"
             f"try:\n    load_image({str(tmp_path / 'huge.png')!r})\nexcept ImageError as exc:\n    print(exc)\n"
             f"print(time.perf_counter() - start, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)")
    message, measures = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                       check=True).stdout.strip().splitlines()
    seconds, grown_mb = map(float, measures.split())
    assert "14,000 x 14,000 PNG image (196 Mpx) is above the decoding limit of 50 Mpx" in message
    assert seconds < 1.0 and grown_mb < 50
    Image.new("L", (9000, 6000), 128).save(tmp_path / "big.jpg", quality=50)     # 54 Mpx, decoded at 1/8
    assert load_image(tmp_path / "big.jpg", "gray", 300).shape == (200, 300)


def test_split_file_errors_name_the_file_and_line(tmp_path):
    from classic.data import DatasetError
    from conftest import make_image_folder
    root = make_image_folder(tmp_path / "ds", {"a": 2, "b": 2})
    cases = {"bogus line\n": "bad.txt:1: expected 'train|test <class>/<file> <class>'",
             "train a/img_000.png a\ntest b/img_000.png c\n": "bad.txt:2: class 'c' is not a class folder",
             b"\xff\xfe": "cannot be read"}
    for text, message in cases.items():
        path = tmp_path / "bad.txt"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(DatasetError, match=re.escape(message)):
            ImageFolderDataset(root, split_file=path).splits()
    with pytest.raises(DatasetNotFound, match="data.split_file 'missing.txt' not found under the data root"):
        make_image_folder(tmp_path / "root" / "caltech101" / "101_ObjectCategories", {"a": 2})
        caltech101(tmp_path / "root", split_file="missing.txt")
