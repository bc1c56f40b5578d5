"""WordNet words for classes named by WordNet ID: ImageNet-layout folders (``train/n03000684/``)
read as "chain saw (n03000684)" in reports, predictions and figures.

The words come from the bundled table of the 1,000 ILSVRC-2012 synsets (``ilsvrc2012_synsets.tsv``:
WordNet 3.0 lemmas, with WordNet's license); a WNID outside it, and any other name, is shown as it is.
(An ILSVRC dataset read with its devkit names its classes with the devkit's words already:
:mod:`classic.data.imagenet`.)

References
----------
Miller, G. A. (1995). WordNet: a lexical database for English. Communications of the ACM 38(11).
https://doi.org/10.1145/219717.219748
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

WNID = re.compile(r"n\d{8}")
TABLE = Path(__file__).with_name("ilsvrc2012_synsets.tsv")


@lru_cache(maxsize=1)
def ilsvrc2012_words() -> dict[str, str]:
    """WNID -> its WordNet lemmas ("chain saw, chainsaw"), for the 1,000 ILSVRC-2012 classes."""
    lines = TABLE.read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line and not line.startswith("#"))


def readable_name(name: str) -> str:
    """A class name as a reader wants it: a known WNID as its first lemma with the WNID after it,
    anything else unchanged.

    >>> readable_name("n03000684"), readable_name("cup")
    ('chain saw (n03000684)', 'cup')
    """
    words = ilsvrc2012_words().get(name) if WNID.fullmatch(name) else None
    return f"{words.split(',')[0].strip()} ({name})" if words else name
