"""Atomic writes: a reader sees the old file or the new one, and a failed write leaves no trace."""

from __future__ import annotations

import pytest

from phasemix.results import write_text_atomic


def test_write_replaces_whole_file_and_creates_the_folder(tmp_path):
    path = tmp_path / "deep" / "run.json"
    assert write_text_atomic(path, '{"a": 1}') == path
    write_text_atomic(path, '{"b": 2}')
    assert path.read_text() == '{"b": 2}'
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "run.json"
    write_text_atomic(path, "old")
    with pytest.raises(TypeError):
        write_text_atomic(path, 42)  # not text: fails while writing the temporary file
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_to_jsonable_makes_strict_json():
    import json

    import numpy as np

    from phasemix.results import to_jsonable

    obj = {"a": np.float64("nan"), "b": [np.int64(3), np.inf, (1.5, np.bool_(True))], "c": np.arange(2.0)}
    out = to_jsonable(obj)
    assert out == {"a": None, "b": [3, None, [1.5, True]], "c": [0.0, 1.0]}
    json.dumps(out, allow_nan=False)  # strict JSON: no NaN/Infinity tokens
