"""Every fixture checkpoint read by returnn_ckpt equals TensorFlow's own reader: the shape and
dtype maps, and every tensor element for element (bitwise, so NaNs too), dtype for dtype, type
for type (numpy scalars for shape [], bytes for strings)."""

import hashlib
import json

import numpy as np
import pytest

import returnn_ckpt
from conftest import ROOT, fixture_checkpoints, kind_is

CHECKPOINTS = fixture_checkpoints(tf_only=True)


def test_every_fixture_is_covered():
    cases = {case for case, _ in CHECKPOINTS}
    assert len(CHECKPOINTS) >= 15, CHECKPOINTS
    assert {"tf1_saver_dtypes", "tf1_saver_v1", "rawop_exotic_dtypes"} <= cases


def manifest_tensors(case, prefix):
    m = json.loads((ROOT / "fixtures" / case / "manifest.json").read_text())
    for c in m["checkpoints"]:
        if ROOT / "fixtures" / case / c["prefix"] == prefix:
            return {t["name"]: t for t in c["tensors"]}
    raise AssertionError(f"{prefix} not in the manifest of {case}")


def expected_map_dtype(tf, tfd):
    """What get_variable_to_dtype_map gives for TF dtype `tfd`: numpy's dtype where numpy itself
    has it, else the name."""
    if tfd.is_quantized or tfd == tf.string:
        return tfd.name
    npd = np.dtype(tfd.as_numpy_dtype)
    return npd if npd.type.__module__ == "numpy" else tfd.name


def assert_same_value(ours, theirs, what):
    assert type(ours) is type(theirs), (what, type(ours), type(theirs))
    if isinstance(theirs, bytes):
        assert ours == theirs, what
        return
    assert ours.dtype == theirs.dtype, (what, ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    if theirs.dtype == object:
        o, t = ours.ravel().tolist(), theirs.ravel().tolist()
        assert all(type(x) is bytes for x in o), what
        assert o == t, what
    else:
        # bitwise: NaN payloads, signed zeros, bfloat16/float8 bit patterns
        assert np.asarray(ours).tobytes() == np.asarray(theirs).tobytes(), what


@pytest.mark.parametrize("mmap", [False, True], ids=["pread", "mmap"])
@pytest.mark.parametrize("case,prefix", CHECKPOINTS, ids=[f"{c}:{p.name}" for c, p in CHECKPOINTS])
def test_reader_equals_tensorflow(tf, case, prefix, mmap):
    theirs = tf.train.load_checkpoint(str(prefix))
    ours = returnn_ckpt.load_checkpoint(str(prefix), mmap=mmap)

    shapes = theirs.get_variable_to_shape_map()
    assert ours.get_variable_to_shape_map() == shapes
    assert sorted(ours.keys()) == sorted(shapes) == list(ours)
    assert len(ours) == len(shapes)

    dtypes = theirs.get_variable_to_dtype_map()
    ours_dtypes = ours.get_variable_to_dtype_map()
    assert set(ours_dtypes) == set(dtypes)
    for k, tfd in dtypes.items():
        want = expected_map_dtype(tf, tfd)
        got = ours_dtypes[k]
        assert type(got) is type(want) and got == want, (k, got, want)
        assert got == tfd.name, k

    manifest = manifest_tensors(case, prefix)
    compared = 0
    for k in shapes:
        assert ours.has_tensor(k) == theirs.has_tensor(k) is True
        assert k in ours
        try:
            t = theirs.get_tensor(k)
        except Exception as tf_err:
            known = manifest.get(k, {})
            if known.get("sha256"):
                # TF's reader cannot return it (sliced float16), but the manifest holds the
                # digest of the tensor TF's RestoreV2 reads of its slices assemble to.
                o = ours.get_tensor(k)
                assert o.dtype == np.dtype(known["numpy_dtype"]) and list(o.shape) == shapes[k]
                assert hashlib.sha256(o.tobytes()).hexdigest() == known["sha256"], k
                compared += 1
                continue
            # TF refuses it and there is no value: so must we, with our error type
            with pytest.raises(returnn_ckpt.Error) as e:
                ours.get_tensor(k)
            assert e.value.key == k, (k, e.value, tf_err)
            continue
        o = ours.get_tensor(k)
        assert_same_value(o, t, f"{case}:{prefix.name}:{k}")
        compared += 1
    assert compared >= 1
    assert not ours.has_tensor("no/such/tensor") and not theirs.has_tensor("no/such/tensor")
    assert "no/such/tensor" not in ours and 3 not in ours


def test_insufficient_slices_is_refused_like_tensorflow():
    r = returnn_ckpt.load_checkpoint(ROOT / "fixtures/rawop_exotic_dtypes/raw_savev2")
    with pytest.raises(returnn_ckpt.Error) as e:
        r.get_tensor("raw/float32_slice_of_4x3")
    kind_is(e.value, "slices")
    assert e.value.key == "raw/float32_slice_of_4x3"
    assert e.value.path.endswith("raw_savev2.index")
