"""Packaging conventions: the version is single-sourced, the command answers --version, and the package
imports where the Unix-only modules do not exist (Windows)."""
import subprocess
import sys

import classic


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_every_module_imports_without_the_unix_only_modules():
    """``resource`` and ``fcntl`` made unimportable (None in sys.modules: ImportError), then every
    module of the package imported."""
    done = run_python(
        "import sys\n"
        "sys.modules['resource'] = None; sys.modules['fcntl'] = None\n"
        "import importlib, pkgutil, classic\n"
        "names = [m.name for m in pkgutil.walk_packages(classic.__path__, 'classic.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "from classic.experiment.parallel import peak_memory_mb\n"
        "peak_memory_mb()\n"
        "print(len(names))\n")
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50


def test_the_version_is_the_packages_and_the_command_reports_it():
    from importlib.metadata import version
    assert version("classic-vision") == classic.__version__
    for command in ([sys.executable, "-m", "classic", "--version"],):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip() == f"classic {classic.__version__}"
