"""Bad input raises returnn_ckpt.Error with the right kind, path and key; never a panic, never
another exception type (the bit-flip sweep reads every tensor of every mutated index)."""

import shutil
import sys

import pytest

import returnn_ckpt
from conftest import FIXTURES, kind_is

DTYPES = FIXTURES / "tf1_saver_dtypes"
DATA = "model.ckpt.data-00000-of-00001"


def copy_ckpt(tmp_path, name="model.ckpt", src=DTYPES, prefix="model.ckpt"):
    for f in src.glob(prefix + ".*"):
        if f.name.endswith((".index", ".meta")) or ".data-" in f.name:
            shutil.copy(f, tmp_path / f.name.replace(prefix, name, 1))
    return tmp_path / name


def raises(f):
    with pytest.raises(returnn_ckpt.Error) as e:
        f()
    return e.value


def test_error_type():
    assert issubclass(returnn_ckpt.Error, Exception)
    assert returnn_ckpt.Error.__module__ == "returnn_ckpt"
    e = returnn_ckpt.Error("raised from Python")
    assert (e.path, e.key) == (None, None) and isinstance(e.kind, str)


def test_missing_checkpoint(tmp_path):
    e = raises(lambda: returnn_ckpt.load_checkpoint(tmp_path / "nothere"))
    kind_is(e, "no-checkpoint")
    assert e.path == str(tmp_path / "nothere") and e.key is None
    assert "nothere" in str(e)


def test_missing_key():
    r = returnn_ckpt.load_checkpoint(DTYPES / "model.ckpt")
    e = raises(lambda: r.get_tensor("no/such/key"))
    kind_is(e, "key-not-found")
    assert e.key == "no/such/key" and e.path == str(DTYPES / "model.ckpt")


def test_flipped_data_byte_is_a_checksum_error_naming_the_tensor(tmp_path):
    p = copy_ckpt(tmp_path)
    ok = returnn_ckpt.load_checkpoint(p)
    sizes = {k: ok.get_tensor(k) for k in ok}
    data = bytearray((tmp_path / DATA).read_bytes())
    data[len(data) // 2] ^= 0x10
    (tmp_path / DATA).write_bytes(data)
    for mmap in (False, True):
        r = returnn_ckpt.load_checkpoint(p, mmap=mmap)
        bad = []
        for k in r:
            try:
                r.get_tensor(k)
            except returnn_ckpt.Error as e:
                bad.append(e)
        assert len(bad) == 1, [str(e) for e in bad]
        e = bad[0]
        assert e.kind in ("checksum", "corrupt"), str(e)  # corrupt: a string tensor's lengths
        assert e.key in sizes and e.path == str(tmp_path / DATA)


def test_truncated_data_file(tmp_path):
    p = copy_ckpt(tmp_path)
    data = (tmp_path / DATA).read_bytes()
    (tmp_path / DATA).write_bytes(data[: len(data) // 2])
    r = returnn_ckpt.load_checkpoint(p)
    kinds = set()
    read = 0
    for k in r:
        try:
            r.get_tensor(k)
            read += 1
        except returnn_ckpt.Error as e:
            kinds.add(e.kind.replace("-", "_"))
            assert e.key == k and e.path == str(tmp_path / DATA)
    assert kinds == {"truncated"} and read > 0


def test_missing_data_file(tmp_path):
    p = copy_ckpt(tmp_path)
    (tmp_path / DATA).unlink()
    r = returnn_ckpt.load_checkpoint(p)  # opening reads only the index
    e = raises(lambda: r.get_tensor("dtypes/float32/rank3"))
    kind_is(e, "missing-file")
    assert e.path == str(tmp_path / DATA) and e.key == "dtypes/float32/rank3"


@pytest.mark.parametrize(
    "mutate,kind",
    [
        (lambda b: b"", "truncated"),  # shorter than a table footer
        (lambda b: b[: len(b) // 2], "corrupt"),  # the footer's magic number is gone
        (lambda b: b[:-3] + bytes([b[-3] ^ 4]) + b[-2:], "corrupt"),  # magic number
        (lambda b: b[:10] + bytes([b[10] ^ 4]) + b[11:], "checksum"),  # first data block
    ],
    ids=["empty", "half", "magic", "block"],
)
def test_bad_index(tmp_path, mutate, kind):
    p = copy_ckpt(tmp_path)
    idx = tmp_path / "model.ckpt.index"
    idx.write_bytes(mutate(idx.read_bytes()))
    e = raises(lambda: returnn_ckpt.load_checkpoint(p))
    kind_is(e, kind)
    assert e.path == str(idx)


@pytest.mark.parametrize(
    "case,prefix", [("tf1_partitioned_slices", "partitioned.ckpt"), ("rawop_exotic_dtypes", "raw_savev2")]
)
def test_every_flipped_index_byte_is_an_error_never_a_panic(tmp_path, case, prefix):
    p = copy_ckpt(tmp_path, src=FIXTURES / case, prefix=prefix, name=prefix)
    idx = tmp_path / (prefix + ".index")
    orig = idx.read_bytes()
    errors = 0
    for pos in range(len(orig)):
        bad = bytearray(orig)
        bad[pos] ^= 0x41
        idx.write_bytes(bad)
        try:
            r = returnn_ckpt.load_checkpoint(p)
        except returnn_ckpt.Error:
            errors += 1
            continue
        for k in r:
            try:
                r.get_tensor(k)
            except returnn_ckpt.Error:
                pass
    assert errors > len(orig) // 2


def test_closed_reader():
    r = returnn_ckpt.load_checkpoint(DTYPES / "model.ckpt")
    r.close()
    r.close()  # idempotent
    assert r.closed
    for f in (r.keys, lambda: r.get_tensor("dtypes/int8/scalar"), r.get_variable_to_shape_map, lambda: len(r)):
        e = raises(f)
        kind_is(e, "invalid-argument")
        assert "closed" in str(e)


def test_without_ml_dtypes_bfloat16_is_a_clear_error(monkeypatch):
    r = returnn_ckpt.load_checkpoint(DTYPES / "model.ckpt")
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # import ml_dtypes now fails
    e = raises(lambda: r.get_tensor("dtypes/bfloat16/rank2"))
    kind_is(e, "unsupported")
    assert "ml_dtypes" in str(e) and e.key == "dtypes/bfloat16/rank2"
    # numpy's own dtypes do not need it; the dtype map names bfloat16 without it
    assert r.get_tensor("dtypes/float16/rank1").dtype == "float16"
    assert r.get_variable_to_dtype_map()["dtypes/bfloat16/rank2"] == "bfloat16"
