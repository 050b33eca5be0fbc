"""``phasemix three-phase``: defaults, JSON, generation-setting flags, plot output and error messages."""

from __future__ import annotations

import json

import pytest

from phasemix.cli import main
from phasemix.theory.threephase import expected_error


def _json(capsys, *argv):
    assert main(["three-phase", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_default_run_prints_table(capsys):
    assert main(["three-phase"]) == 0
    out = capsys.readouterr().out
    assert "k^β = 1e+04" in out and "plateau" in out and "tail_learning" in out


def test_json_errors_match_library_and_phases(capsys):
    res = _json(capsys, "--beta", "2", "--cutoff", "100", "--real-share", "0.05", "--sizes", "1e3,1e5,1e7")
    assert res["errors"] == pytest.approx(list(expected_error([1e3, 1e5, 1e7], 2.0, 100, 0.05)), rel=1e-12)
    assert res["phases"] == ["rapid_learning", "plateau", "tail_learning"]
    assert res["breakpoints_closed_form"] == pytest.approx([1e4, 2e5])
    assert res["detection"]["plateau_resolved"]


def test_generation_settings_replace_cutoff(capsys):
    assert _json(capsys, "--top-p", "0.99")["cutoff"] == 61
    assert _json(capsys, "--samples", "1e4")["cutoff"] == 138
    res = _json(capsys, "--temperature", "0.8", "--samples", "1e4")
    assert res["cutoff"] == 35
    res = _json(capsys, "--temperature", "0.8", "--temperature-mode", "exponent", "--n-items", "1e5", "--sizes", "10")
    assert res["cutoff"] is None and res["breakpoints_closed_form"] is None and 0 < res["errors"][0] < 1


def test_large_real_share_reports_no_plateau(capsys):
    res = _json(capsys, "--real-share", "0.5", "--sizes", "1e4")
    assert not res["detection"]["plateau_resolved"]
    assert res["phases"] == ["no_plateau"]


def test_plot_is_written(tmp_path, capsys):
    out = tmp_path / "curve.png"
    assert main(["three-phase", "--sizes", "1e3,1e5", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--beta", "1.0"], "beta"),
        (["--real-share", "0"], "pi"),
        (["--real-share", "1.5"], "pi"),
        (["--cutoff", "0"], "k"),
        (["--sizes", "1e3,abc"], "--sizes"),
        (["--sizes", "-5"], "--sizes"),
        (["--temperature", "0.8"], "--samples"),
        (["--top-p", "0.9", "--samples", "100"], "--samples"),
        (["--out", "x.txt"], ".png"),
    ],
)
def test_bad_input_exits_non_zero_with_message(argv, message, capsys):
    assert main(["three-phase", *argv]) == 1
    assert message in capsys.readouterr().err
