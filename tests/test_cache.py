"""The stage cache and its files: strict JSON, atomic writes."""
import json
import math

import numpy as np
import pytest

from classic.experiment.cache import json_text, save_json


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
