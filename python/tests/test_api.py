"""The reader's API beyond the per-fixture comparison: path forms, relative paths against
os.getcwd(), the mapping face, `with`, mmap's zero-copy views outliving the reader."""

import gc
import pathlib

import numpy as np
import pytest

import returnn_ckpt
from conftest import FIXTURES

NATIVE = FIXTURES / "returnn_train_nativelstm" / "net-model"


def names(r):
    return sorted(r.get_variable_to_shape_map())


@pytest.mark.parametrize(
    "form",
    ["network.003", "network.003.index", "network.003.meta", "network.003.data-00000-of-00001"],
)
def test_path_forms_of_one_checkpoint(form):
    want = returnn_ckpt.load_checkpoint(NATIVE / "network.003")
    r = returnn_ckpt.load_checkpoint(str(NATIVE / form))
    assert r.prefix == want.prefix == str(NATIVE / "network.003")
    assert names(r) == names(want) and len(r) == 8
    np.testing.assert_array_equal(r.get_tensor("output/W"), want.get_tensor("output/W"))


def test_directory_with_checkpoint_state_opens_the_latest(tf):
    for d in (NATIVE, FIXTURES / "tf2_object_keras", FIXTURES / "tf1_saver_v1"):
        ours = returnn_ckpt.load_checkpoint(d)
        theirs = tf.train.load_checkpoint(str(d))
        assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map(), d


def test_v1_file_and_format():
    r = returnn_ckpt.load_checkpoint(FIXTURES / "tf1_saver_v1" / "model_v1.ckpt")
    assert r.format == "v1" and len(r) == 11
    assert returnn_ckpt.load_checkpoint(NATIVE / "network.003").format == "v2"


def test_relative_paths_resolve_against_os_getcwd(monkeypatch):
    monkeypatch.chdir(NATIVE)
    r = returnn_ckpt.load_checkpoint("network.002")
    assert r.prefix == str(NATIVE / "network.002")
    monkeypatch.chdir(NATIVE.parent)
    r = returnn_ckpt.load_checkpoint(pathlib.Path("net-model") / "network.001")
    assert r.prefix == str(NATIVE / "network.001")
    with pytest.raises(returnn_ckpt.Error):
        returnn_ckpt.load_checkpoint("network.001")  # not in this directory


def test_mapping_face_and_context_manager():
    with returnn_ckpt.load_checkpoint(NATIVE / "network.003") as r:
        assert list(r) == r.keys() == sorted(r.keys())
        assert "hid/W" in r and "nope" not in r and None not in r
        assert len(r) == len(r.keys()) == 8
        assert "8 tensors" in repr(r) and not r.closed
        a = r.get_tensor("hid/W")
    assert r.closed and "closed" in repr(r)
    assert a.flags.writeable
    a[0, 0] = 1.0  # copies are the caller's


def test_scalar_and_string_results_are_tensorflows_types():
    r = returnn_ckpt.load_checkpoint(FIXTURES / "tf1_saver_dtypes" / "model.ckpt")
    assert type(r.get_tensor("dtypes/int64/scalar")) is np.int64
    assert type(r.get_tensor("strings/scalar_empty")) is bytes
    s = r.get_tensor("strings/matrix_2x3")
    assert s.dtype == object and s.shape == (2, 3) and all(type(x) is bytes for x in s.ravel())
    assert r.get_tensor("zero_size/string_0").shape == (0,)
    q = returnn_ckpt.load_checkpoint(FIXTURES / "rawop_exotic_dtypes" / "raw_savev2")
    assert q.get_tensor("raw/qint8").dtype == np.int8
    assert q.get_variable_to_dtype_map()["raw/qint8"] == "qint8"


def test_mmap_arrays_are_zero_copy_read_only_and_outlive_the_reader():
    p = FIXTURES / "tf1_saver_dtypes" / "model.ckpt"
    copy = returnn_ckpt.load_checkpoint(p).get_tensor("dtypes/float32/rank3")
    r = returnn_ckpt.load_checkpoint(p, mmap=True)
    a = r.get_tensor("dtypes/float32/rank3")
    b = r.get_tensor("dtypes/float32/rank3")
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0, 0] = 0.0
    # two reads of one tensor view the same mapped bytes: nothing was copied
    assert np.shares_memory(a, b)
    # a read without mmap is a private copy
    c = returnn_ckpt.load_checkpoint(p).get_tensor("dtypes/float32/rank3")
    assert not np.shares_memory(c, copy)
    # the array keeps the map alive after close() and after the reader is gone
    r.close()
    del r, b
    gc.collect()
    assert a.tobytes() == copy.tobytes()
    assert np.array(a).flags.aligned  # an aligned, writeable copy on request
    # partitioned tensors are assembled (a copy) even with mmap
    s = returnn_ckpt.load_checkpoint(FIXTURES / "tf1_partitioned_slices" / "partitioned.ckpt", mmap=True)
    assert s.get_tensor("emb/table").flags.writeable


def test_version():
    assert returnn_ckpt.__version__.count(".") == 2
    with open(pathlib.Path(__file__).resolve().parents[2] / "Cargo.toml") as f:
        assert f'version = "{returnn_ckpt.__version__}"' in f.read()
