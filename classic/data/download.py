"""Downloading datasets: resumable HTTP download, verification, safe archive extraction.

* A download goes to ``<name>.part`` and resumes from its size with an HTTP ``Range`` request.  It is
  complete when it holds the ``Content-Length`` the server announced; one cut short is kept for the
  next attempt to resume, and renamed into place only when complete (and verified, when an MD5 is
  published).
* Nothing is declared extracted before every checksum the archive's format carries has passed:
  gzip's CRC-32 and length, bzip2's and xz's checks and each tar header's (the whole stream is read
  before extraction), each zip member's CRC-32 (checked as it is extracted into a staging folder).  This is the only check of a download with no published MD5;
  a damaged archive is removed, with a message to run the command again.
* Extraction refuses any member whose path would land outside the target folder (absolute paths,
  ``..`` components, links pointing out) or that is a device, strips set-user-ID and write-for-others
  mode bits (what Python's ``data`` filter does, on the versions that have it), and extracts into a
  temporary folder that is renamed into place, so an interrupted extraction never leaves a half
  dataset that looks complete.

Every failure is a :class:`DownloadError` naming the file and what to do.
"""
from __future__ import annotations

import hashlib
import http.client
import lzma
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..io import atomic_write, owner_tag, remove_stale_temporaries

# what a damaged or truncated archive raises from Python's readers
_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, lzma.LZMAError,
                   OSError)


class DownloadError(RuntimeError):
    """A download or extraction that failed; the message says what to do."""
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
    """The MD5 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: Path, md5: str | None = None, progress: bool = True, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial download; verify ``md5`` if given.

    The download is complete when it holds the ``Content-Length`` the server announced; a connection
    that ends before leaves ``<dest>.part`` for the next call to resume, and raises."""
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
            try:
                with open(part, "ab" if have else "wb") as out, tqdm(
                        total=total, initial=have, unit="B", unit_scale=True, desc=dest.name,
                        disable=not progress) as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        bar.update(len(block))
            except (http.client.HTTPException, OSError) as exc:
                raise DownloadError(f"{url}: the download was interrupted after {part.stat().st_size:,} bytes "
                                    f"({type(exc).__name__}: {exc}); run the command again to resume it") from None
            got = part.stat().st_size
            if total is not None and got != total:
                raise DownloadError(f"{url}: the download stopped at {got:,} of {total:,} bytes; run the command "
                                    f"again to resume it")
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


def _read_through(t: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every member of ``t``, reading its compressed stream to the end on the way, so that the format's
    checksum (gzip's CRC-32 and length, bzip2's, xz's) is checked before anything is extracted."""
    try:
        members = t.getmembers()                    # every header, through the whole stream
        while t.fileobj.read(1 << 20):              # and what follows the last one: the checksum
            pass
    except _ARCHIVE_ERRORS as exc:
        raise DownloadError(f"{t.name}: damaged or incomplete archive ({type(exc).__name__}: {exc})") from None
    return members


def safe_extract(archive: Path, target: Path) -> Path:
    """Extract a tar (any compression) or zip archive into ``target``, refusing escaping members, once
    its checksums have passed: a tar's whole stream is read first; a zip's members are checked (CRC-32)
    as they are extracted, into a staging folder that a failure discards."""
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # staging folders of extractions that were killed (directly in the data root: not a walk of the datasets)
    remove_stale_temporaries(target.parent, recursive=False)
    staging = Path(tempfile.mkdtemp(prefix=f".extract-{owner_tag()}-", dir=target.parent)).resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    _check_member(name, staging)
                z.extractall(staging)
        else:
            with tarfile.open(archive) as t:
                members = _read_through(t)
                for m in members:
                    _check_member(m.name, staging)
                    if m.issym():                  # a symbolic link's target is relative to its folder
                        _check_member(os.path.join(os.path.dirname(m.name), m.linkname), staging)
                    if m.islnk():                  # a hard link's, to the archive's root
                        _check_member(m.linkname, staging)
                    if m.isdev():
                        raise DownloadError(f"archive member {m.name!r} is a device file; refusing to extract")
                    m.mode &= 0o755                # no set-user-ID, set-group-ID, sticky or write-for-others
                # Python's own "data" filter where it exists (3.10.12+, 3.11.4+, 3.12): the checks above
                # stand on the versions before it
                t.extractall(staging, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        target.mkdir(parents=True, exist_ok=True)
        for entry in staging.iterdir():
            destination = target / entry.name
            if destination.exists():
                shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
            entry.rename(destination)
    except _ARCHIVE_ERRORS as exc:
        raise DownloadError(f"{archive}: cannot extract ({type(exc).__name__}: {exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def download_dataset(name: str, data_root: Path, downloads_dir: Path, spec: DownloadSpec | None = None,
                     progress: bool = True) -> Path:
    """Fetch, verify and extract dataset ``name`` under ``data_root``; returns the dataset folder.

    A downloaded archive that fails verification is removed (so that the next attempt fetches it
    afresh) and reported as a :class:`DownloadError` saying so."""
    spec = spec or DOWNLOADS.get(name)
    if spec is None:
        raise DownloadError(f"no download known for {name!r}; known: {', '.join(sorted(DOWNLOADS))}")
    data_root = Path(data_root)
    archive = fetch(spec.url, Path(downloads_dir) / spec.filename, spec.md5, progress)
    again = f"run `classic download {name}` again to fetch it afresh"
    try:
        if spec.inner is not None:
            inner = Path(downloads_dir) / Path(spec.inner).name
            if not inner.exists() or (spec.inner_md5 and md5sum(inner) != spec.inner_md5):
                _take_out(archive, spec.inner, inner, spec.inner_md5)
            archive = inner
        safe_extract(archive, data_root / spec.target)
    except DownloadError as exc:
        removed = [p for p in {archive, Path(downloads_dir) / spec.filename} if p.exists()]
        for p in removed:
            p.unlink()
        raise DownloadError(f"{exc}; {'removed ' + ', '.join(map(str, removed)) + ': ' if removed else ''}{again}") \
            from None
    produced = data_root / (spec.produces or spec.target)
    if not produced.exists():
        raise DownloadError(f"{archive} extracted, but {produced} is not there")
    return produced


def _take_out(archive: Path, member: str, dest: Path, md5: str | None) -> None:
    """Copy ``member`` of the zip ``archive`` to ``dest`` (atomically), checking its MD5 on the way."""
    def copy(out):
        digest = hashlib.md5()
        with zipfile.ZipFile(archive) as z, z.open(member) as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if md5 and digest.hexdigest() != md5:
            raise DownloadError(f"{member} in {archive}: MD5 mismatch (expected {md5}, got {digest.hexdigest()})")
    try:
        atomic_write(dest, copy)
    except (KeyError, *_ARCHIVE_ERRORS) as exc:
        raise DownloadError(f"{archive}: cannot take {member} out of it ({type(exc).__name__}: {exc})") from None
