"""Downloading datasets: resumable HTTP download, MD5 verification, safe archive extraction.

* A download goes to ``<name>.part`` and resumes from its size with an HTTP ``Range`` request; it is
  renamed into place only when complete (and verified, when an MD5 is known).
* Extraction refuses any member whose path would land outside the target folder (absolute paths,
  ``..`` components, links pointing out), and extracts into a temporary folder that is renamed into
  place, so an interrupted extraction never leaves a half dataset that looks complete.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm


class DownloadError(RuntimeError):
    pass


@dataclass(frozen=True)
class DownloadSpec:
    """Where a dataset comes from and how to check it."""
    url: str
    filename: str
    md5: str | None              # of the downloaded file, when published
    inner: str | None = None     # archive member to take out of the download (e.g. a tar.gz in a zip)
    inner_md5: str | None = None
    target: str = ""             # folder under the data root that the extracted tree goes into
    produces: str = ""           # path under the data root that exists once done


DOWNLOADS = {
    "caltech101": DownloadSpec(
        url="https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",
        filename="caltech-101.zip", md5=None,
        inner="caltech-101/101_ObjectCategories.tar.gz", inner_md5="b224c7392d521a49829488ab0f1120d9",
        target="caltech101", produces="caltech101/101_ObjectCategories"),
}
# fastai's ImageNet subsets (10 classes each; train/<wnid>/ and val/<wnid>/): full size and shortest
# side 320 / 160 px.  Imagenette's MD5s are those torchvision verifies.  Imagewoof's archives were
# regenerated at least once and two different MD5s are in circulation for each size, so they are
# downloaded unverified (the MD5 of what arrived is printed and can be pinned here).
_FASTAI = "https://s3.amazonaws.com/fast-ai-imageclas/"
for _name, _archive, _md5 in (("imagenette", "imagenette2", "fe2fc210e6bb7c5664d602c3cd71e612"),
                              ("imagenette-320", "imagenette2-320", "3df6f0d01a2c9592104656642f5e78a3"),
                              ("imagenette-160", "imagenette2-160", "e793b78cc4c9e9a4ccc0c1155377a412"),
                              ("imagewoof", "imagewoof2", None), ("imagewoof-320", "imagewoof2-320", None),
                              ("imagewoof-160", "imagewoof2-160", None)):
    DOWNLOADS[_name] = DownloadSpec(url=f"{_FASTAI}{_archive}.tgz", filename=f"{_archive}.tgz", md5=_md5,
                                    target="", produces=_archive)


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: Path, md5: str | None = None, progress: bool = True, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial download; verify ``md5`` if given."""
    dest = Path(dest)
    if dest.exists() and (md5 is None or md5sum(dest) == md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:          # nothing left to fetch: the part file is complete
            response = None
        else:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except OSError as exc:
        raise DownloadError(f"{url}: {exc}") from None
    if response is not None:
        with response:
            if have and response.status != 206:   # server ignored the range: start over
                have = 0
            total = response.headers.get("Content-Length")
            total = int(total) + have if total is not None else None
            with open(part, "ab" if have else "wb") as out, tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, desc=dest.name,
                    disable=not progress) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    if md5 is not None:
        got = md5sum(part)
        if got != md5:
            part.unlink()
            raise DownloadError(f"{url}: MD5 mismatch (expected {md5}, got {got}); the partial file was "
                                "removed, run the command again")
    part.replace(dest)
    return dest


def _check_member(name: str, root: Path) -> None:
    target = (root / name).resolve()
    if os.path.isabs(name) or not (target == root or root in target.parents):
        raise DownloadError(f"archive member {name!r} would be written outside {root}; refusing to extract")


def safe_extract(archive: Path, target: Path) -> Path:
    """Extract a tar (any compression) or zip archive into ``target``, refusing escaping members."""
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent)).resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    _check_member(name, staging)
                z.extractall(staging)
        else:
            with tarfile.open(archive) as t:
                members = t.getmembers()
                for m in members:
                    _check_member(m.name, staging)
                    if m.issym() or m.islnk():
                        _check_member(os.path.join(os.path.dirname(m.name), m.linkname), staging)
                    if m.isdev():
                        raise DownloadError(f"archive member {m.name!r} is a device file; refusing to extract")
                t.extractall(staging, members=members, filter="data")
        target.mkdir(parents=True, exist_ok=True)
        for entry in staging.iterdir():
            destination = target / entry.name
            if destination.exists():
                shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
            entry.rename(destination)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DownloadError(f"{archive}: cannot extract ({exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def download_dataset(name: str, data_root: Path, downloads_dir: Path, spec: DownloadSpec | None = None,
                     progress: bool = True) -> Path:
    """Fetch, verify and extract dataset ``name`` under ``data_root``; returns the dataset folder."""
    spec = spec or DOWNLOADS.get(name)
    if spec is None:
        raise DownloadError(f"no download known for {name!r}; known: {', '.join(sorted(DOWNLOADS))}")
    data_root = Path(data_root)
    archive = fetch(spec.url, Path(downloads_dir) / spec.filename, spec.md5, progress)
    if spec.inner is not None:
        inner = Path(downloads_dir) / Path(spec.inner).name
        if not inner.exists() or (spec.inner_md5 and md5sum(inner) != spec.inner_md5):
            with zipfile.ZipFile(archive) as z, z.open(spec.inner) as src, open(inner.with_suffix(".tmp"), "wb") as dst:
                shutil.copyfileobj(src, dst)
            if spec.inner_md5 and (got := md5sum(inner.with_suffix(".tmp"))) != spec.inner_md5:
                inner.with_suffix(".tmp").unlink()
                raise DownloadError(f"{spec.inner} in {archive}: MD5 mismatch (expected {spec.inner_md5}, "
                                    f"got {got}); delete {archive} and run the command again")
            inner.with_suffix(".tmp").replace(inner)
        archive = inner
    safe_extract(archive, data_root / spec.target)
    produced = data_root / (spec.produces or spec.target)
    if not produced.exists():
        raise DownloadError(f"{archive} extracted, but {produced} is not there")
    return produced
