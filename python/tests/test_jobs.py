"""The job functions return the same dict as the command line tool's `--json` output (the
binary named by RETURNN_CKPT_BIN, which `cargo xtask pytest` builds), and library errors as
returnn_ckpt.Error."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import returnn_ckpt
from conftest import FIXTURES, ROOT, kind_is

NATIVE = FIXTURES / "returnn_train_nativelstm" / "net-model"


def cli(*args):
    exe = os.environ.get("RETURNN_CKPT_BIN") or str(ROOT / "target" / "debug" / "returnn-ckpt")
    assert Path(exe).is_file(), f"build the CLI first (cargo build -p returnn-ckpt): {exe}"
    p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize(
    "a,b,tol",
    [
        (NATIVE / "network.003", NATIVE / "network.003", (0.0, 0.0)),
        (NATIVE / "network.001", NATIVE / "network.003", (0.0, 0.0)),
        (NATIVE / "network.002", NATIVE / "network.003", (1e-3, 0.5)),
        (NATIVE / "network.003", FIXTURES / "returnn_preload" / "net-model" / "network.001", (0.0, 0.0)),
        (FIXTURES / "tf1_saver_dtypes" / "model.ckpt", FIXTURES / "tf1_saver_dtypes" / "model.ckpt", (0.0, 0.0)),
    ],
)
def test_diff_equals_cli_json(a, b, tol):
    got = returnn_ckpt.diff(a, b, atol=tol[0], rtol=tol[1])
    want = cli("diff", a, b, "--json", "--atol", tol[0], "--rtol", tol[1])
    assert got == want
    assert list(got) == list(want)  # same field order


def test_diff_relative_paths_and_errors(monkeypatch, tmp_path):
    monkeypatch.chdir(NATIVE)
    d = returnn_ckpt.diff("network.001", "network.001")
    assert d["equal"] is True and d["a"] == str(NATIVE / "network.001")
    with pytest.raises(returnn_ckpt.Error) as e:
        returnn_ckpt.diff("network.001", tmp_path / "missing")
    kind_is(e.value, "no-checkpoint")
    assert e.value.path == str(tmp_path / "missing")
