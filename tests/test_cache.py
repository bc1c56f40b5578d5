"""The stage cache: a stage lock excludes other processes and dies with its holder."""
from conftest import spawn_python


def test_a_stage_lock_excludes_other_processes_and_dies_with_its_holder(tmp_path):
    from classic.experiment.cache import StageLock
    from classic.io import owner_tag
    holder = spawn_python(f"from classic.experiment.cache import StageLock\n"
                         f"lock = StageLock({str(tmp_path)!r}); lock.acquire(); print('held', flush=True)\n"
                         f"import time; time.sleep(60)")
    assert holder.stdout.readline().strip() == "held"
    lock = StageLock(tmp_path)
    assert not lock.acquire(blocking=False)                     # held by the other process
    assert lock.holder() == f"{holder.pid}@{owner_tag().split('@')[1]}"
    holder.kill()                                               # SIGKILL: no clean-up code runs
    holder.wait()
    assert lock.acquire(blocking=False)                         # the operating system released it
    lock.release()
