"""Every snippet of README.md and docs/tutorial.md runs as written: the Python blocks are executed
(from a folder laid out as the repository, with a small stand-in for the run they read), and every
`classic` command line of the shell blocks parses with the command's own parser, its config files
present in the repository."""
import re
import shlex
import shutil
from pathlib import Path

import pytest

from classic.cli import build_parser
from conftest import FOLDER_TINY, REPO, make_image_folder

DOCUMENTS = ["README.md", "docs/tutorial.md", "docs/tutorial.template.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
# words of the README's command lines that stand for the reader's own values
PLACEHOLDERS = {"CONFIG": "experiments/digits.yaml", "DIR": "photos", "RUN": "runs/r", "IMAGES": "photos",
                "SOME_PHOTOS/": "photos/"}


def snippets(kind: str) -> list[tuple[str, str]]:
    """(document, code) of every ``kind`` fenced block of the documents."""
    return [(name, code) for name in DOCUMENTS for lang, code in FENCE.findall((REPO / name).read_text())
            if lang == kind]


def command_lines() -> list[tuple[str, list[str]]]:
    """(document, arguments) of every `classic` command of the shell blocks, comments left out."""
    out = []
    for name, code in snippets("sh"):
        for line in code.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in (".venv/bin/classic", "classic"):
                out.append((name, [PLACEHOLDERS.get(w, w) for w in words[1:]]))
    return out


@pytest.fixture(scope="module")
def repository_like(tmp_path_factory):
    """A working folder like the repository's root: docs/ and experiments/ linked, and
    runs/caltech101_quick a small finished run of the same shape (a folder run of textured images)."""
    from classic.experiment import Runner, load_config
    root = tmp_path_factory.mktemp("repo")
    for name in ("docs", "experiments"):
        (root / name).symlink_to(REPO / name)
    make_image_folder(root / "data" / "tiny", {"a": 8, "b": 8})
    config = load_config(REPO / "experiments" / "folder.yaml", FOLDER_TINY + ["data.n_train=4", "data.n_test=4"])
    Runner(config, root / "data", root / "cache", root / "runs" / "caltech101_quick", progress=False,
           log=lambda *a: None).run()
    return root


def test_the_documents_have_python_and_shell_snippets():
    assert len(snippets("python")) >= 3 and len(command_lines()) >= 20


@pytest.mark.parametrize("document, code", snippets("python"), ids=lambda x: x[:40] if len(x) > 40 else x)
def test_every_python_snippet_runs(document, code, repository_like, monkeypatch, capsys):
    monkeypatch.chdir(repository_like)
    exec(compile(code, document, "exec"), {"__name__": "__snippet__"})


@pytest.mark.parametrize("document, arguments", command_lines(), ids=lambda x: " ".join(x)[:60] if isinstance(x, list) else x)
def test_every_command_line_parses_and_names_files_that_exist(document, arguments):
    build_parser().parse_args(arguments)            # argparse exits (SystemExit) on what it does not know
    for word in arguments:
        if word.startswith("experiments/") and word.endswith(".yaml"):
            assert (REPO / word).is_file(), f"{document}: {word} does not exist"


def test_a_snippet_that_cannot_run_fails(repository_like, monkeypatch):
    monkeypatch.chdir(repository_like)
    with pytest.raises(FileNotFoundError):
        exec('from classic import load_model\nload_model("runs/none")', {})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "experiments/digits.yaml", "--no-such-option"])
    assert shutil.which("python") or True


def test_the_api_reference_lists_every_module():
    """docs/api/index.rst (what `make docs` builds) names each module of the package once."""
    listed = re.findall(r"^\.\. automodule:: (\S+)$", (REPO / "docs" / "api" / "index.rst").read_text(), re.M)
    modules = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
               for p in (REPO / "classic").rglob("*.py") if p.name != "__main__.py"}
    assert sorted(listed) == sorted(modules) and len(listed) == len(set(listed))
