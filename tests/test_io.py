"""classic.io: strict JSON, temporaries of killed writers, free-space checks."""
import json
import math

import numpy as np
import pytest

from conftest import spawn_python
from classic.io import json_text, save_json


def strict_loads(text):
    """json.loads that refuses what RFC 8259 does not allow (Python accepts NaN and Infinity)."""
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_json_files_are_strict_json(tmp_path):
    values = {"nan": float("nan"), "inf": np.float32("inf"), "array": np.array([1.5, np.nan]), "int": np.int64(3),
              "nested": [{"x": -math.inf}], "path": tmp_path, "flag": np.bool_(True)}
    loaded = strict_loads(save_json(tmp_path / "m.json", values).read_text())
    assert loaded == {"nan": None, "inf": None, "array": [1.5, None], "int": 3, "nested": [{"x": None}],
                      "path": str(tmp_path), "flag": True}
    assert strict_loads(json_text({"a": 1.0})) == {"a": 1.0}
    with pytest.raises(TypeError, match="not JSON serialisable"):
        json_text({"a": object()})




def test_temporary_files_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    """A writer SIGKILLed in the middle of an atomic write leaves its temporary file; it is recognised
    by its writer's process id and removed, while a live writer's temporary stays."""
    import os
    import time
    from classic.io import owner_tag, remove_stale_temporaries
    writer = spawn_python(f"from classic.io import atomic_write\n"
                          f"import time\n"
                          f"def slow(f):\n    f.write(b'x' * 100_000); f.flush(); print('writing', flush=True); time.sleep(60)\n"
                          f"atomic_write({str(tmp_path / 'big.npy')!r}, slow)")
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait()
    dead_pid = writer.pid
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].stat().st_size == 100_000 and not (tmp_path / "big.npy").exists()
    live = tmp_path / f".gram.npy.{owner_tag()}.abcd1234.tmp"          # this process: alive
    live.write_bytes(b"in progress")
    old = tmp_path / ".sample.npy.k2j4h5g6.tmp"                       # named before owners were: stale once old
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    recent = tmp_path / ".scores.npy.q1w2e3r4.tmp"
    recent.write_bytes(b"x")
    nested = tmp_path / "sub" / f".x.npy.{dead_pid}@{owner_tag().split('@')[1]}.n1n2n3n4.tmp"   # one level down
    nested.parent.mkdir()
    nested.write_bytes(b"x")
    assert sorted(remove_stale_temporaries(tmp_path, recursive=False)) == sorted([left[0], old])
    assert nested.exists()                                             # not looked at without recursion
    assert remove_stale_temporaries(tmp_path) == [nested]
    assert live.exists() and recent.exists()


def test_large_writes_check_the_free_space_first_and_a_full_disk_names_the_file(tmp_path, monkeypatch):
    import collections
    import errno
    import shutil
    from classic.io import save_npy
    from classic.io import InsufficientSpace, atomic_write, format_bytes
    assert [format_bytes(n) for n in (0, 1000, 3 << 20, 5 << 30)] == ["0 B", "1000 B", "3.0 MiB", "5.00 GiB"]
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 9, 10 ** 9 - (2 << 20), 2 << 20))
    with pytest.raises(InsufficientSpace, match=r"sample.npy needs 4.0 MiB but only 2.0 MiB are free"):
        save_npy(tmp_path / "sample.npy", np.zeros((1 << 20,), np.float32))
    save_npy(tmp_path / "small.npy", np.zeros(100, np.float32))            # small writes are not checked

    def fills(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(InsufficientSpace, match="the disk filled while writing .*gram.npy"):
        atomic_write(tmp_path / "gram.npy", fills)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.npy"]      # no partial file left
