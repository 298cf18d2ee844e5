"""Shared helpers of the returnn_ckpt tests (run by `cargo xtask pytest`)."""

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def fixture_checkpoints(tf_only=False):
    """(case, prefix path) for every checkpoint of every fixtures/*/manifest.json (with
    `tf_only`, without the PyTorch `.pt` items, which TensorFlow's reader cannot read)."""
    out = []
    for manifest in sorted(FIXTURES.glob("*/manifest.json")):
        m = json.loads(manifest.read_text())
        for c in m["checkpoints"]:
            if tf_only and c.get("format") == "pt":
                continue
            out.append((manifest.parent.name, manifest.parent / c["prefix"]))
    return out


def kind_is(err, label):
    """The error's kind equals `label`, in either label casing (`key-not-found`/`key_not_found`)."""
    assert err.kind.replace("-", "_") == label.replace("-", "_"), (err.kind, label, str(err))


@pytest.fixture(scope="session")
def tf():
    import tensorflow

    return tensorflow
