"""Result store: atomic appends, lock, torn-line repair, validation, manifest, Parquet export (spec §7, §6.9)."""

from __future__ import annotations

import json

import pytest

from phasemix.errors import ResultsFileError
from phasemix.sim.store import ResultStore, encode_outputs, record_key


def _rec(i: int, **extra) -> dict:
    return {"schema_version": 1, "key": record_key({"i": i}), "setting": {"i": i}, "outputs": {"v": i * 0.5},
            **extra}


def test_append_and_read_back(tmp_path):
    with ResultStore(tmp_path) as st:
        for i in range(5):
            st.append(_rec(i))
    recs = ResultStore(tmp_path).records()
    assert [r["setting"]["i"] for r in recs] == list(range(5))
    assert ResultStore(tmp_path).completed_keys() == {record_key({"i": i}) for i in range(5)}


def test_torn_last_line_is_ignored_then_repaired(tmp_path):
    with ResultStore(tmp_path) as st:
        for i in range(3):
            st.append(_rec(i))
    path = tmp_path / "results.jsonl"
    whole = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(json.dumps(_rec(3)).encode()[:25])  # killed mid-write
    assert len(ResultStore(tmp_path).records()) == 3
    with ResultStore(tmp_path) as st:  # the writer truncates the torn tail
        assert path.read_bytes() == whole
        st.append(_rec(3))
    assert [r["setting"]["i"] for r in ResultStore(tmp_path).records()] == [0, 1, 2, 3]


def test_torn_file_without_any_newline_is_emptied(tmp_path):
    (tmp_path / "results.jsonl").write_bytes(b'{"schema_vers')
    assert ResultStore(tmp_path).repair() == 13
    assert (tmp_path / "results.jsonl").read_bytes() == b""


def test_second_writer_is_refused(tmp_path):
    with ResultStore(tmp_path):
        with pytest.raises(ResultsFileError, match="locked"):
            ResultStore(tmp_path).open()


def test_duplicates_keep_first_and_bad_lines_are_skipped(tmp_path):
    with ResultStore(tmp_path) as st:
        st.append(_rec(1))
        st.append({**_rec(1), "outputs": {"v": 99}})
    with open(tmp_path / "results.jsonl", "ab") as fh:
        fh.write(b"not json\n" + json.dumps({"key": "x"}).encode() + b"\n")
    recs = ResultStore(tmp_path).records()
    assert len(recs) == 1 and recs[0]["outputs"]["v"] == 0.5


def test_newer_schema_is_an_error(tmp_path):
    (tmp_path / "results.jsonl").write_text(json.dumps(_rec(1, schema_version=99)) + "\n")
    with pytest.raises(ResultsFileError, match="newer"):
        ResultStore(tmp_path).records()


def test_invalid_record_is_not_appended(tmp_path):
    with ResultStore(tmp_path) as st, pytest.raises(ResultsFileError, match="missing"):
        st.append({"key": "k"})


def test_append_needs_the_lock(tmp_path):
    with pytest.raises(RuntimeError, match="context manager"):
        ResultStore(tmp_path).append(_rec(0))


def test_nonfinite_outputs_become_null_with_flag(tmp_path):
    out = encode_outputs({"a": float("nan"), "b": [1.0, float("inf")], "c": 2})
    assert out == {"a": None, "b": [1.0, None], "c": 2, "_nonfinite": ["a", "b[1]"]}
    with ResultStore(tmp_path) as st:
        st.append({**_rec(0), "outputs": out})
    assert ResultStore(tmp_path).records()[0]["outputs"]["a"] is None


def test_manifest_is_atomic_and_round_trips(tmp_path):
    st = ResultStore(tmp_path)
    assert st.read_manifest() is None
    st.write_manifest({"grid": [1, 2]})
    assert st.read_manifest() == {"grid": [1, 2]}
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "sweep.json").write_text("{broken")
    with pytest.raises(ResultsFileError, match="not valid JSON"):
        st.read_manifest()


def test_parquet_export(tmp_path):
    import pyarrow.parquet as pq

    with ResultStore(tmp_path) as st:
        for i in range(3):
            st.append({**_rec(i), "outputs": {"v": i * 0.5, "list": [i, i]}})
    path = ResultStore(tmp_path).to_parquet(tmp_path / "r.parquet")
    table = pq.read_table(path)
    assert table.num_rows == 3 and table.column("outputs.v").to_pylist() == [0.0, 0.5, 1.0]
    with pytest.raises(ResultsFileError, match="no records"):
        ResultStore(tmp_path / "empty").to_parquet(tmp_path / "e.parquet")


def test_results_folder_must_be_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ResultsFileError, match="not a directory"):
        ResultStore(f)
