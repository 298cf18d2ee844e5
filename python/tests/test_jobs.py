"""The job functions return exactly the document of the command line tool's `--json` output
(the binary named by RETURNN_CKPT_BIN, which `cargo xtask pytest` builds), on every fixture
where the command applies; where the command prints an error document, the function raises
returnn_ckpt.Error with the same kind, message, path, key and hint, and `.outcome` says what
the command's exit code says (1: "negative", 2: "failed"). Jobs that write (convert, avg, load,
cleanup with apply) run in two copies of the fixtures, one per face, and must leave the two
trees byte-identical."""

import filecmp
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import returnn_ckpt
from conftest import FIXTURES, ROOT, fixture_checkpoints

EXE = os.environ.get("RETURNN_CKPT_BIN") or str(ROOT / "target" / "debug" / "returnn-ckpt")
OUTCOME = {1: "negative", 2: "failed"}

CHECKPOINTS = [(case, p.relative_to(FIXTURES).as_posix()) for case, p in fixture_checkpoints()]
CONFIG_DIRS = sorted(p.parent.name for p in FIXTURES.glob("*/returnn.config"))


def manifest_items():
    out = {}
    for manifest in sorted(FIXTURES.glob("*/manifest.json")):
        m = json.loads(manifest.read_text())
        for c in m["checkpoints"]:
            out[(manifest.parent / c["prefix"]).relative_to(FIXTURES).as_posix()] = c
    return out


ITEMS = manifest_items()


def cli(args, cwd):
    assert Path(EXE).is_file(), f"build the CLI first (cargo build -p returnn-ckpt): {EXE}"
    p = subprocess.run([EXE, *map(str, args), "--json"], cwd=cwd, capture_output=True, text=True)
    assert p.returncode in (0, 1, 2), (p.returncode, p.stderr)
    return p.returncode, json.loads(p.stdout)


def in_dir(where, fn, *args, **kwargs):
    old = os.getcwd()
    os.chdir(where)
    try:
        return fn(*args, **kwargs), None
    except returnn_ckpt.Error as e:
        return None, e
    finally:
        os.chdir(old)


def is_error_doc(doc):
    return isinstance(doc, dict) and list(doc) == ["error"] and isinstance(doc["error"], dict)


def error_fields(e):
    return {"kind": e.kind, "message": str(e), "path": e.path, "key": e.key, "hint": e.hint}


def same(cli_args, fn, *args, run_in=FIXTURES, py_in=None, **kwargs):
    """Runs the command in `run_in` and the function in `py_in` (default `run_in`) and checks
    that they agree; returns (exit code, dict or Error). `kwargs` go to the function (its
    `cwd=` is RETURNN's working directory, the command's `-C`)."""
    code, doc = cli(cli_args, run_in)
    got, err = in_dir(py_in or run_in, fn, *args, **kwargs)
    if py_in is not None:
        # the two copies' own paths, where a message shows an absolute path
        got = json.loads(json.dumps(got).replace(str(py_in), str(run_in)))
        if err is not None:
            for a in ("path", "hint"):
                if getattr(err, a):
                    setattr(err, a, getattr(err, a).replace(str(py_in), str(run_in)))
            err.args = (str(err).replace(str(py_in), str(run_in)),)
    if is_error_doc(doc):
        assert err is not None, f"the CLI gave {doc}, the function returned {got}"
        assert error_fields(err) == doc["error"]
        assert err.outcome == OUTCOME[code], (err.outcome, code)
        return code, err
    assert err is None, f"the function raised {err.kind}: {err}; the CLI gave {doc}"
    assert code in (0, 1)
    # the same values and the same key order everywhere
    assert json.dumps(got) == json.dumps(doc)
    return code, got


# ------------------------------------------------------------------------------------------
# inspect, verify, diff on every fixture checkpoint (read-only, run in fixtures/)


@pytest.mark.parametrize("case,ckpt", CHECKPOINTS, ids=[c for _, c in CHECKPOINTS])
def test_inspect_and_verify_every_fixture(case, ckpt):
    same(["inspect", ckpt], returnn_ckpt.inspect, ckpt)
    same(["inspect", ckpt, "--stats", "--digest"], returnn_ckpt.inspect, ckpt, stats=True, digest=True)
    same(["inspect", ckpt, "--object-names"], returnn_ckpt.inspect, ckpt, object_names=True)
    same(["inspect", ckpt, "--digest", "--mmap"], returnn_ckpt.inspect, Path(ckpt), digest=True, mmap=True)
    same(["verify", ckpt], returnn_ckpt.verify, ckpt)
    same(["verify", ckpt, "--mmap"], returnn_ckpt.verify, ckpt, mmap=True)
    same(["diff", ckpt, ckpt], returnn_ckpt.diff, ckpt, ckpt)


@pytest.mark.parametrize("case,ckpt", CHECKPOINTS, ids=[c for _, c in CHECKPOINTS])
def test_inspect_values_every_fixture(case, ckpt):
    names = [t["name"] for t in ITEMS[ckpt]["tensors"]][:3]
    args = [a for n in names + ["no/such"] for a in ("--tensor", n)]
    same(["inspect", ckpt, *args, "--digest"], returnn_ckpt.inspect, ckpt, tensors=names + ["no/such"], digest=True)
    same(["inspect", ckpt, *args[:2], "--all"], returnn_ckpt.inspect, ckpt, tensors=names[:1], all=True)


def test_inspect_forms_and_big_values():
    nat = "returnn_train_nativelstm/net-model/network.003"
    for p in (nat + ".index", nat + ".meta", "tf1_saver_dtypes", "tf1_saver_dtypes/model.ckpt.meta"):
        same(["inspect", p], returnn_ckpt.inspect, p)
    _, d = same(["inspect", nat, "--tensor", "fw0/rec/W"], returnn_ckpt.inspect, nat, tensors=["fw0/rec/W"])
    assert d["tensors"][0]["truncated"] is False
    _, d = same(["inspect", "many_vars_3000/many", "--stats"], returnn_ckpt.inspect, "many_vars_3000/many", stats=True)
    assert len(d["tensors"]) >= 3000


def test_diff_pairs():
    nat = "returnn_train_nativelstm/net-model/network."
    pairs = [
        (nat + "001", nat + "003", []),
        (nat + "002", nat + "003", ["--atol", "1e-3", "--rtol", "0.5"]),
        (nat + "003", "returnn_preload/net-model/network.001", []),
        ("tf2_object_keras/ckpt-1", "tf2_object_keras/ckpt-2", []),
        ("tf1_saver_dtypes/model.ckpt", "tf1_sharded_3dev/sharded.ckpt", []),
        ("tf1_partitioned_slices/partitioned.ckpt", "tf1_partitioned_slices/partitioned.ckpt", ["--atol", "0"]),
    ]
    codes = set()
    for a, b, tol in pairs:
        kw = {k.lstrip("-"): float(v) for k, v in zip(tol[::2], tol[1::2])}
        code, d = same(["diff", a, b, *tol], returnn_ckpt.diff, a, b, **kw)
        assert (code == 0) == d["equal"]
        codes.add(code)
    assert codes == {0, 1}


def test_checkpoint_job_errors(tmp_path):
    nat = "returnn_train_nativelstm/net-model/network.003"
    outcomes = set()
    for args, fn, a, kw in [
        (["inspect", "nosuch"], returnn_ckpt.inspect, ("nosuch",), {}),
        (["inspect", "returnn_train_nativelstm/returnn.config"], returnn_ckpt.inspect, ("returnn_train_nativelstm/returnn.config",), {}),
        (["verify", "nosuch/model"], returnn_ckpt.verify, ("nosuch/model",), {}),
        (["diff", "nosuch", nat], returnn_ckpt.diff, ("nosuch", nat), {}),
        (["diff", nat, nat, "--atol=-1"], returnn_ckpt.diff, (nat, nat), {"atol": -1.0}),
        (["diff", nat, nat, "--rtol", "nan"], returnn_ckpt.diff, (nat, nat), {"rtol": float("nan")}),
    ]:
        code, e = same(args, fn, *a, **kw)
        assert isinstance(e, returnn_ckpt.Error), args
        outcomes.add(e.outcome)
    assert outcomes == {"failed"}


def corrupt_copy(d):
    """tf1_saver_dtypes with one flipped bit in the float32 tensor `dtypes/float32/rank3`, and a
    truncated index (`trunc.ckpt`)."""
    d.mkdir()
    src = FIXTURES / "tf1_saver_dtypes"
    for f in src.glob("model.ckpt.*"):
        shutil.copy(f, d / f.name)
    entries = json.loads((src / "model.ckpt.index_entries.json").read_text())["entries"]
    e = next(e for e in entries if e["key"] == "dtypes/float32/rank3")
    data = d / "model.ckpt.data-00000-of-00001"
    b = bytearray(data.read_bytes())
    b[e["offset"] + e["size"] // 2] ^= 0x10
    data.write_bytes(b)
    shutil.copy(data, d / "trunc.ckpt.data-00000-of-00001")
    (d / "trunc.ckpt.index").write_bytes((d / "model.ckpt.index").read_bytes()[:-20])
    return d


def test_corrupt_files(tmp_path):
    d, p = corrupt_copy(tmp_path / "cli"), corrupt_copy(tmp_path / "py")
    # a flipped data bit: inspect --digest and verify report it in the document ...
    _, r = same(["inspect", "model.ckpt", "--digest"], returnn_ckpt.inspect, "model.ckpt", digest=True, run_in=d)
    assert [t["name"] for t in r["tensors"] if "error" in t] == ["dtypes/float32/rank3"]
    code, r = same(["verify", "model.ckpt"], returnn_ckpt.verify, "model.ckpt", run_in=d)
    assert code == 1 and r["ok"] is False and [(x["kind"], x["key"]) for x in r["problems"]] == [("checksum", "dtypes/float32/rank3")]
    # ... convert, diff and avg raise it, and write nothing
    for args, fn, a in [
        (["convert", "model.ckpt", "x.safetensors"], returnn_ckpt.convert, ("model.ckpt", "x.safetensors")),
        (["diff", "model.ckpt", str(FIXTURES / "tf1_saver_dtypes/model.ckpt")], returnn_ckpt.diff, ("model.ckpt", FIXTURES / "tf1_saver_dtypes/model.ckpt")),
        (["avg", "model.ckpt", "model.ckpt", "--out", "avg"], returnn_ckpt.avg, (["model.ckpt", "model.ckpt"], "avg")),
    ]:
        _, e = same(args, fn, *a, run_in=d, py_in=p)
        assert (e.kind, e.key, e.outcome) == ("checksum", "dtypes/float32/rank3", "failed")
        assert e.path.endswith("data-00000-of-00001")
        assert_same_trees(d, p)
    assert not (d / "x.safetensors").exists()
    # a truncated index cannot be opened
    for args, fn in [(["inspect", "trunc.ckpt"], returnn_ckpt.inspect), (["verify", "trunc.ckpt"], returnn_ckpt.verify)]:
        _, e = same(args, fn, "trunc.ckpt", run_in=d)
        assert isinstance(e, returnn_ckpt.Error) and e.outcome == "failed"


# ------------------------------------------------------------------------------------------
# convert, avg: two copies of fixtures/, one per face; the trees must end up identical


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    base = tmp_path_factory.mktemp("twins")
    for side in ("cli", "py"):
        shutil.copytree(FIXTURES, base / side / "fixtures", symlinks=True, ignore=shutil.ignore_patterns("gen"))
        (base / side / "fixtures" / "out").mkdir()
    return base / "cli" / "fixtures", base / "py" / "fixtures"


def assert_same_trees(a, b):
    cmp = filecmp.dircmp(a, b)

    def walk(c, where):
        assert not c.left_only and not c.right_only, (where, c.left_only, c.right_only)
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        assert not mismatch and not errors, (where, mismatch, errors)
        for name, sub in c.subdirs.items():
            walk(sub, f"{where}/{name}")

    walk(cmp, ".")


def twin(twins, cli_args, fn, *args, **kwargs):
    cli_dir, py_dir = twins
    r = same(cli_args, fn, *args, run_in=cli_dir, py_in=py_dir, **kwargs)
    assert_same_trees(cli_dir, py_dir)
    return r


def slug(p):
    return p.replace("/", "_")


@pytest.mark.parametrize("case,ckpt", CHECKPOINTS, ids=[c for _, c in CHECKPOINTS])
def test_convert_every_fixture(twins, case, ckpt):
    st = f"out/{slug(ckpt)}.safetensors"
    twin(twins, ["convert", ckpt, st], returnn_ckpt.convert, ckpt, st)
    twin(twins, ["convert", ckpt, f"out/{slug(ckpt)}-tf", "--to", "tf"], returnn_ckpt.convert, ckpt, f"out/{slug(ckpt)}-tf", to="tf")
    twin(
        twins,
        ["convert", ckpt, st, "--force", "--no-optimizer", "--strings", "metadata", "--float8", "--skip-unreadable"],
        returnn_ckpt.convert,
        ckpt,
        st,
        force=True,
        no_optimizer=True,
        strings="metadata",
        float8=True,
        skip_unreadable=True,
    )
    # and back: safetensors -> TF bundle (where the first conversion wrote one)
    if (twins[0] / st).exists():
        twin(twins, ["convert", st, f"out/{slug(ckpt)}-back"], returnn_ckpt.convert, st, f"out/{slug(ckpt)}-back")
    # a RETURNN PyTorch-engine checkpoint, with the entries given and taken from the input
    pt = f"out/{slug(ckpt)}.pt"
    twin(twins, ["convert", ckpt, pt, "--skip-unreadable"], returnn_ckpt.convert, ckpt, pt, skip_unreadable=True)
    twin(
        twins,
        ["convert", ckpt, pt, "--force", "--to", "pt", "--epoch", "7", "--step", "99", "--skip-unreadable"],
        returnn_ckpt.convert,
        ckpt,
        pt,
        force=True,
        to="pt",
        epoch=7,
        step=99,
        skip_unreadable=True,
    )
    if (twins[0] / pt).exists():
        twin(twins, ["diff", ckpt, pt], returnn_ckpt.diff, ckpt, pt)
        twin(twins, ["inspect", pt], returnn_ckpt.inspect, pt)


def test_diff_with_rename():
    nat = "returnn_train_nativelstm/net-model/network."
    args = ["--rename", "^fw0/=lstm/", "--rename", "/W$=/weight"]
    _, d = same(["diff", nat + "002", nat + "003", *args], returnn_ckpt.diff, nat + "002", nat + "003",
                rename=["^fw0/=lstm/", "/W$=/weight"])
    # A's tensors whose new names B lacks are listed under their own names
    assert d["only_in_a"] == ["fw0/rec/W", "fw0/rec/W_re", "fw0/rec/b", "hid/W", "output/W"], d["only_in_a"]
    code, e = same(["diff", nat + "002", nat + "003", "--rename", "(=x"], returnn_ckpt.diff, nat + "002",
                   nat + "003", rename=["(=x"])
    assert code == 2 and isinstance(e, returnn_ckpt.Error)


def test_convert_options_and_errors(twins):
    nat = "returnn_train_nativelstm/net-model/network.003"
    cases = [
        (["out/r.safetensors", "--no-optimizer", "--rename", "^fw0/rec/=lstm/", "--rename", "W$=weight"],
         {"no_optimizer": True, "rename": ["^fw0/rec/=lstm/", "W$=weight"]}),
        (["out/i.safetensors", "--include", "^hid/", "--include", "^output/", "--exclude", "/b$"],
         {"include": ["^hid/", "^output/"], "exclude": ["/b$"]}),
        (["out/r.safetensors"], {}),  # exists: refused without force
        (["out/"], {}),  # a directory
        (["out", "--to", "tf"], {"to": "tf"}),
        (["out/no/such/x.safetensors"], {}),
        (["out/n.safetensors", "--include", "nomatch"], {"include": ["nomatch"]}),
        (["out/n.safetensors", "--include", "nomatch", "--allow-empty"], {"include": ["nomatch"], "allow_empty": True}),
        (["out/y.safetensors", "--include", "("], {"include": ["("]}),
        ([nat, "--to", "tf", "--force"], {"to": "tf", "force": True}),  # over the input
        (["out/m.safetensors", "--mmap"], {"mmap": True}),
    ]
    kinds = []
    for rest, kw in cases:
        out, flags = rest[0], rest[1:]
        _, r = twin(twins, ["convert", nat, out, *flags], returnn_ckpt.convert, nat, out, **kw)
        kinds.append(r.kind if isinstance(r, returnn_ckpt.Error) else "ok")
    assert kinds == ["ok", "ok", "output", "output", "output", "output", "invalid_argument", "ok", "invalid_option",
                     "invalid_argument", "ok"], kinds
    dt = "tf1_saver_dtypes/model.ckpt"
    _, e = twin(twins, ["convert", dt, "out/strict.safetensors", "--strict"], returnn_ckpt.convert, dt, "out/strict.safetensors", strict=True)
    assert isinstance(e, returnn_ckpt.Error) and e.outcome == "failed"
    twin(twins, ["convert", "nosuch", "out/x.safetensors"], returnn_ckpt.convert, "nosuch", "out/x.safetensors")


def test_convert_refuses_bad_choices():
    nat = FIXTURES / "returnn_train_nativelstm/net-model/network.003"
    for kw in ({"to": "onnx"}, {"strings": "keep"}):
        with pytest.raises(returnn_ckpt.Error) as e:
            returnn_ckpt.convert(nat, "/nonexistent/x.safetensors", **kw)
        assert (e.value.kind, e.value.outcome) == ("usage", "failed")
        code, doc = cli(["convert", nat, "/nonexistent/x", "--" + next(iter(kw)), next(iter(kw.values()))], FIXTURES)
        assert (code, doc["error"]["kind"]) == (2, "usage")
    with pytest.raises(TypeError):
        returnn_ckpt.convert(nat, "x.safetensors", include="^a")  # a str is not a list of regexes


def test_avg(twins):
    nat = [f"returnn_train_nativelstm/net-model/network.00{i}" for i in (1, 2, 3)]
    pre = [f"returnn_pretrain/net-model/{n}" for n in ("network.pretrain.001", "network.pretrain.002", "network.003")]
    keras = ["tf2_object_keras/ckpt-1", "tf2_object_keras/ckpt-2"]
    other = "returnn_preload/net-model/network.001"
    cases = [
        (nat, "out/avg-nat", {}),
        (nat[:2], "out/avg-nat", {}),  # exists
        (nat[:2], "out/avg-nat", {"force": True}),
        (pre, "out/avg-pre", {}),
        (keras, "out/avg-keras", {}),
        ([nat[2], other], "out/avg-bad", {}),
        ([nat[2], other], "out/avg-partial", {"ignore_missing": True}),
        (nat[:2], nat[1], {"force": True}),  # over an input
        ([nat[0], "nosuch"], "out/avg-missing", {}),
        (["tf1_sharded_3dev/sharded.ckpt", "tf1_sharded_3dev/sharded.ckpt"], "out/avg-sharded", {}),
    ]
    flags = {"force": "--force", "ignore_missing": "--ignore-missing"}
    kinds = []
    for paths, out, kw in cases:
        _, r = twin(twins, ["avg", *paths, "--out", out, *[flags[k] for k in kw]], returnn_ckpt.avg, paths, out, **kw)
        kinds.append(r.kind if isinstance(r, returnn_ckpt.Error) else "ok")
    assert kinds.count("ok") >= 5 and len(set(kinds)) >= 3, kinds
    with pytest.raises(returnn_ckpt.Error) as e:
        returnn_ckpt.avg([], "x")
    assert e.value.kind == "usage"


# ------------------------------------------------------------------------------------------
# RETURNN config jobs: in each fixture run directory, and from fixtures/ with cwd= (-C)


@pytest.mark.parametrize("d", CONFIG_DIRS)
def test_resolve_epochs_cleanup_every_config(d):
    run = FIXTURES / d
    conf = f"{d}/returnn.config"
    for args, kw in [
        ([], {}),
        (["++task", "eval", "++load_epoch", "2"], {"overrides": {"task": "eval", "load_epoch": 2}}),
        (["++start_epoch", "3"], {"overrides": {"start_epoch": 3}}),
        (["++start_epoch", "6"], {"overrides": {"start_epoch": 6}}),
        (["--task", "eval", "++load_epoch", "1"], {"overrides": ["--task", "eval", "++load_epoch", "1"]}),
    ]:
        same(["resolve", "returnn.config", *args], returnn_ckpt.resolve, "returnn.config", run_in=run, **kw)
        # from fixtures/: -C DIR is cwd=DIR (the config path stays relative to os.getcwd())
        same(["resolve", conf, "-C", d, *args], returnn_ckpt.resolve, conf, cwd=d, **kw)
    # without cwd= RETURNN runs in fixtures/ (and finds no models there)
    same(["resolve", conf], returnn_ckpt.resolve, conf)
    for args, kw in [
        ([], {}),
        (["--best"], {"best": True}),
        (["--best"], {"best": ""}),
        (["--best", "dev_error"], {"best": "dev_error"}),
        (["--best", "nosuch_key"], {"best": "nosuch_key"}),
        (["++learning_rate_file", "nosuch.data", "--best"], {"best": True, "overrides": {"learning_rate_file": "nosuch.data"}}),
    ]:
        same(["epochs", "returnn.config", *args], returnn_ckpt.epochs, "returnn.config", run_in=run, **kw)
        same(["epochs", conf, "-C", d, *args], returnn_ckpt.epochs, Path(conf), cwd=Path(d), **kw)
    for args, kw in [
        ([], {}),
        (["++cleanup_old_models", "{'keep_last_n': 1, 'keep_best_n': 0}"],
         {"overrides": {"cleanup_old_models": {"keep_last_n": 1, "keep_best_n": 0}}}),
        (["++num_epochs", "2"], {"overrides": {"num_epochs": 2}}),
    ]:
        same(["cleanup", "returnn.config", *args], returnn_ckpt.cleanup, "returnn.config", run_in=run, **kw)
        same(["cleanup", conf, "-C", d, *args], returnn_ckpt.cleanup, conf, cwd=d, **kw)


def config_targets(d):
    """The checkpoints of a run directory (as plan targets), relative to it."""
    out = []
    for item, c in ITEMS.items():
        if item.startswith(d + "/"):
            rel = item[len(d) + 1 :]
            out.append(rel)
            if (FIXTURES / (item + ".meta")).exists():
                out.append(rel + ".meta")
    return out


@pytest.mark.parametrize("d", CONFIG_DIRS)
def test_plan_every_config_and_target(d):
    run = FIXTURES / d
    targets = config_targets(d) + ["../returnn_train_nativelstm/net-model/network.003", "nosuch"]
    for t in targets:
        for flags, kw in [([], {}), (["--fresh"], {"fresh": True}), (["--resume"], {"resume": True})]:
            same(["plan", "returnn.config", "--target", t, *flags], returnn_ckpt.plan, "returnn.config", t, run_in=run, **kw)
        same(["plan", f"{d}/returnn.config", "--target", f"{d}/{t}", "-C", d], returnn_ckpt.plan, f"{d}/returnn.config", f"{d}/{t}", cwd=d)
    t = targets[0]
    same(["plan", "returnn.config", "--target", t, "++task", "eval", "++load_epoch", "2"],
         returnn_ckpt.plan, "returnn.config", target=t, overrides={"task": "eval", "load_epoch": 2}, run_in=run)
    same(["plan", "returnn.config", "--target", t, "++import_model_train_epoch1", "../returnn_preload/net-model/network.001"],
         returnn_ckpt.plan, "returnn.config", t, overrides={"import_model_train_epoch1": "../returnn_preload/net-model/network.001"}, run_in=run)
    _, e = in_dir(run, returnn_ckpt.plan, "returnn.config", t, fresh=True, resume=True)
    assert (e.kind, e.outcome) == ("usage", "failed")


def test_config_job_outcomes():
    """Both exit-code classes occur and map to .outcome: a RETURNN error is "negative" (1), a
    config that cannot be read "failed" (2)."""
    nat = FIXTURES / "returnn_train_nativelstm"
    code, e = same(["resolve", "returnn.config", "++start_epoch", "6"], returnn_ckpt.resolve, "returnn.config",
                   overrides={"start_epoch": 6}, run_in=nat)
    assert (code, e.outcome, e.kind) == (1, "negative", "start_epoch_model_missing")
    code, e = same(["resolve", "nosuch.config"], returnn_ckpt.resolve, "nosuch.config")
    assert (code, e.outcome) == (2, "failed")
    code, e = same(["resolve", "returnn.config", "start_epoch", "3"], returnn_ckpt.resolve, "returnn.config",
                   overrides=["start_epoch", "3"], run_in=nat)
    assert isinstance(e, returnn_ckpt.Error)
    code, e = same(["epochs", "returnn.config", "--best", "nosuch_key"], returnn_ckpt.epochs, "returnn.config",
                   best="nosuch_key", run_in=nat)
    assert e.kind == "no_scores"


def test_path_every_fixture_file():
    for d in CONFIG_DIRS:
        files = sorted(p.name for p in (FIXTURES / d / "net-model").iterdir())
        paths = [f"net-model/{f}" for f in files]
        same(["path", *paths, "-C", d], returnn_ckpt.path, paths, cwd=d)
        same(["path", *paths], returnn_ckpt.path, [Path(p) for p in paths], run_in=FIXTURES / d)
    synthetic = ["x/network.003.meta", "x/network.003.data-00000-of-00001", "x/network.000", "x/model.pt", "x/network.pretrain.002.index"]
    code, r = same(["path", *synthetic], returnn_ckpt.path, synthetic)
    assert code == 1 and isinstance(r, list) and any("error" in x for x in r)
    with pytest.raises(TypeError):
        returnn_ckpt.path("x/network.003")  # one str is not a list of paths


# ------------------------------------------------------------------------------------------
# overrides: how values are spelled; config as a dict


@pytest.mark.parametrize(
    "value,spelled",
    [
        ("x.data", "x.data"),
        (3, "3"),
        (1e-05, "1e-05"),
        (0.1, "0.1"),
        (True, "True"),
        (None, "None"),
        ([1, "a"], "[1, 'a']"),
        ((1, 2), "(1, 2)"),
        ({"a": 1.5}, "{'a': 1.5}"),
    ],
)
def test_override_spelling(value, spelled):
    """`learning_rate_file` is a str in the config, so RETURNN keeps the `++` string as given:
    the report shows exactly how the value was spelled."""
    nat = FIXTURES / "returnn_train_nativelstm"
    _, r = same(["epochs", "returnn.config", "++learning_rate_file", spelled], returnn_ckpt.epochs, "returnn.config",
                overrides={"learning_rate_file": value}, run_in=nat)
    assert r["learning_rate_file"] == spelled


def test_override_types_refused():
    nat = FIXTURES / "returnn_train_nativelstm" / "returnn.config"
    for bad in ({"x": object()}, {1: "x"}, "++x 1", 3):
        with pytest.raises(TypeError):
            returnn_ckpt.resolve(nat, overrides=bad)


def literal_config(path):
    """The JSON-able values of a fixture config (executed: the fixtures' configs are ours)."""
    ns = {}
    try:
        exec(compile(path.read_text(), str(path), "exec"), ns)
    except Exception:  # a config needing RETURNN's runtime: left out
        return None

    def ok(v):
        if v is None or isinstance(v, (str, bool, int)):
            return True
        if isinstance(v, float):
            return v == v and abs(v) != float("inf")
        if isinstance(v, (list, tuple)):
            return all(ok(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and ok(x) for k, x in v.items())
        return False

    return {k: v for k, v in ns.items() if not k.startswith("_") and ok(v)}


@pytest.mark.parametrize("d", CONFIG_DIRS)
def test_config_dict_equals_json_file(d, tmp_path):
    conf = literal_config(FIXTURES / d / "returnn.config")
    if conf is None:
        pytest.skip("config not executable without RETURNN")
    f = tmp_path / "config.json"
    f.write_text(json.dumps(conf))
    same(["resolve", f, "-C", d], returnn_ckpt.resolve, conf, cwd=d)
    same(["resolve", f, "-C", d, "++load_epoch", "1", "++task", "eval"], returnn_ckpt.resolve, conf, cwd=d,
         overrides={"load_epoch": 1, "task": "eval"})
    same(["epochs", f, "-C", d, "--best"], returnn_ckpt.epochs, conf, cwd=d, best=True)
    same(["cleanup", f, "-C", d], returnn_ckpt.cleanup, conf, cwd=d)
    for t in config_targets(d):
        same(["plan", f, "-C", d, "--target", f"{d}/{t}"], returnn_ckpt.plan, conf, f"{d}/{t}", cwd=d)


def test_config_dict_refused_values():
    for bad in ({"get_model": len}, {"x": float("inf")}, {"x": {1: 2}}, {"x": [b"bytes"]}):
        with pytest.raises(TypeError):
            returnn_ckpt.resolve(bad)
    with pytest.raises(TypeError):
        returnn_ckpt.resolve(3)


# ------------------------------------------------------------------------------------------
# load, cleanup --apply: written / deleted files identical in both copies


def test_load(twins):
    runs = {
        "returnn_import_epoch1": ["net-model/network.001.meta", "net-model/network.001"],
        "returnn_preload": ["net-model/network.001"],
        "returnn_train_nativelstm": ["net-model/network.002"],
    }
    n = 0
    for d, targets in runs.items():
        for t in targets:
            for out in (f"../out/load-{d}-{slug(t)}.safetensors", f"../out/load-{d}-{slug(t)}-tf"):
                cli_dir, py_dir = twins
                same(["load", "returnn.config", "--target", t, "--out", out], returnn_ckpt.load, "returnn.config", t, out,
                     run_in=cli_dir / d, py_in=py_dir / d)
                assert_same_trees(cli_dir, py_dir)
                n += 1
    assert n == 8
    d = "returnn_import_epoch1"
    out = "out/load-again.safetensors"
    kinds = []
    for flags, kw in [([], {}), ([], {}), (["--force"], {"force": True}), (["--resume", "--force"], {"resume": True, "force": True})]:
        _, r = twin(twins, ["load", f"{d}/returnn.config", "--target", f"{d}/net-model/network.001.meta", "--out", out, "-C", d, *flags],
                    returnn_ckpt.load, f"{d}/returnn.config", f"{d}/net-model/network.001.meta", out, cwd=d, **kw)
        kinds.append(r.kind if isinstance(r, returnn_ckpt.Error) else "ok")
    assert kinds == ["ok", "output", "ok", "ok"], kinds
    _, e = twin(twins, ["load", "returnn_import_epoch1/returnn.config", "--target", "returnn_import_epoch1/net-model/network.001",
                        "--out", "out/bad.safetensors", "-C", "returnn_import_epoch1",
                        "++import_model_train_epoch1", "../returnn_preload/net-model/network.001"],
                returnn_ckpt.load, "returnn_import_epoch1/returnn.config", "returnn_import_epoch1/net-model/network.001",
                "out/bad.safetensors", cwd="returnn_import_epoch1",
                overrides={"import_model_train_epoch1": "../returnn_preload/net-model/network.001"})
    assert (e.kind, e.outcome) == ("missing_vars", "negative")


def test_cleanup_apply(tmp_path):
    for side in ("cli", "py"):
        shutil.copytree(FIXTURES / "returnn_train_nativelstm", tmp_path / side, symlinks=True)
    ov = ["++cleanup_old_models", "{'keep_last_n': 1, 'keep_best_n': 0}"]
    code, doc = cli(["cleanup", "returnn.config", "--apply", *ov], tmp_path / "cli")
    got, err = in_dir(tmp_path / "py", returnn_ckpt.cleanup, "returnn.config", apply=True,
                      overrides={"cleanup_old_models": {"keep_last_n": 1, "keep_best_n": 0}})
    assert err is None and json.dumps(got) == json.dumps(doc)
    assert_same_trees(tmp_path / "cli", tmp_path / "py")


# ------------------------------------------------------------------------------------------
# progress callbacks


def test_progress_callback(tmp_path):
    calls = []
    nat = FIXTURES / "many_vars_3000" / "many"
    r = returnn_ckpt.verify(nat, progress=lambda *a: calls.append(a))
    assert r["ok"] and calls
    what, done, total = zip(*calls)
    assert set(what) == {"verify"} and total[0] > 0 and done[0] == 0 and done[-1] == total[-1]
    assert list(done) == sorted(done)
    calls.clear()
    returnn_ckpt.convert(nat, tmp_path / "x.safetensors", progress=lambda *a: calls.append(a))
    assert calls and calls[-1][0] == "convert" and calls[-1][1] == calls[-1][2] > 0

    def boom(*_):
        raise ValueError("stop")

    with pytest.raises(ValueError, match="stop"):
        returnn_ckpt.inspect(nat, digest=True, progress=boom)
    with pytest.raises(TypeError):
        returnn_ckpt.verify(nat, progress=3)


# ------------------------------------------------------------------------------------------
# hostile input: mutated files give the same document or error from both faces, never
# another exception


def test_flipped_index_bytes_agree_with_the_cli(tmp_path):
    src = FIXTURES / "tf1_partitioned_slices"
    for side in ("cli", "py"):
        (tmp_path / side).mkdir()
        for f in src.glob("partitioned.ckpt.*"):
            shutil.copy(f, tmp_path / side / f.name)
    orig = (src / "partitioned.ckpt.index").read_bytes()
    kinds = set()
    for pos in range(0, len(orig), max(1, len(orig) // 40)):
        bad = bytearray(orig)
        bad[pos] ^= 0x41
        for side in ("cli", "py"):
            (tmp_path / side / "partitioned.ckpt.index").write_bytes(bad)
        for args, fn, a in [
            (["verify", "partitioned.ckpt"], returnn_ckpt.verify, ("partitioned.ckpt",)),
            (["convert", "partitioned.ckpt", f"x{pos}.safetensors"], returnn_ckpt.convert, ("partitioned.ckpt", f"x{pos}.safetensors")),
        ]:
            _, r = same(args, fn, *a, run_in=tmp_path / "cli", py_in=tmp_path / "py")
            kinds.add(r.kind if isinstance(r, returnn_ckpt.Error) else "ok")
        assert_same_trees(tmp_path / "cli", tmp_path / "py")
    assert len(kinds) >= 3, kinds


def test_bad_configs_agree_with_the_cli(tmp_path):
    nat = FIXTURES / "returnn_train_nativelstm"
    shutil.copytree(nat, tmp_path / "run", symlinks=True)
    run = tmp_path / "run"
    text = (nat / "returnn.config").read_text()
    (run / "syntax.config").write_text(text + "\nnetwork = {'a': \n")
    (run / "binary.config").write_bytes(bytes(range(256)) * 4)
    (run / "empty.config").write_text("")
    (run / "lines.config").write_text("model net-model/network\nnum_epochs 3\nbadline\n")
    (run / "badjson.config").write_text('{"model": "net-model/network", ')
    (run / "newbob.data").write_text((nat / "newbob.data").read_text()[:50])
    kinds = set()
    for conf in ("syntax.config", "binary.config", "empty.config", "lines.config", "badjson.config", "returnn.config"):
        for args, fn, kw in [
            (["resolve", conf], returnn_ckpt.resolve, {}),
            (["epochs", conf, "--best"], returnn_ckpt.epochs, {"best": True}),
            (["cleanup", conf], returnn_ckpt.cleanup, {}),
            (["plan", conf, "--target", "net-model/network.003"], returnn_ckpt.plan, {"target": "net-model/network.003"}),
        ]:
            _, r = same(args, fn, conf, run_in=run, **kw)
            kinds.add(r.kind if isinstance(r, returnn_ckpt.Error) else "ok")
    assert len(kinds) >= 3, kinds


def test_epochs_plot(twins):
    run = "returnn_train_nativelstm"
    cli_dir, py_dir = twins
    for pic, args, kw in [
        ("out/curve.svg", [], {}),
        ("out/curve.png", ["--plot-size", "640x480", "--best", "dev_error"], {"plot_size": (640, 480), "best": "dev_error"}),
    ]:
        _, d = twin(twins, ["epochs", f"{run}/returnn.config", "-C", run, "--plot", pic, *args], returnn_ckpt.epochs,
                    f"{run}/returnn.config", cwd=run, plot=pic, **kw)
        assert list(d)[-1] == "plot" and d["plot"].endswith(pic)  # absolute with -C, as the CLI shows it
        assert (py_dir / pic).stat().st_size > 1000
    # an existing picture is refused as by the CLI, and replaced with force
    code, e = twin(twins, ["epochs", f"{run}/returnn.config", "-C", run, "--plot", "out/curve.svg"], returnn_ckpt.epochs,
                   f"{run}/returnn.config", cwd=run, plot="out/curve.svg")
    assert code == 2 and e.kind == "output"
    twin(twins, ["epochs", f"{run}/returnn.config", "-C", run, "--plot", "out/curve.svg", "--force"], returnn_ckpt.epochs,
         f"{run}/returnn.config", cwd=run, plot="out/curve.svg", force=True)


def test_port(twins):
    run = "returnn_train_nativelstm"
    ck, conf = f"{run}/net-model/network.003", f"{run}/returnn.config"
    twin(twins, ["port", ck, "--config", conf, "--suggest", "--out", "out/rules.toml"], returnn_ckpt.port, ck,
         config=conf, suggest=True, out="out/rules.toml")
    _, s = same(["port", ck, "--suggest"], returnn_ckpt.port, ck, suggest=True, run_in=twins[0], py_in=twins[1])
    assert "[[layer]]" in s["rules"]
    _, plan = same(["port", ck, "--rules", "out/rules.toml", "--config", conf], returnn_ckpt.port, ck,
                   rules="out/rules.toml", config=conf, run_in=twins[0], py_in=twins[1])
    assert plan["ok"] and plan["written"] is None
    _, d = twin(twins, ["port", ck, "--rules", "out/rules.toml", "--config", conf, "--out", "out/ported.pt", "--epoch", "5"],
                returnn_ckpt.port, ck, rules="out/rules.toml", config=conf, out="out/ported.pt", epoch=5)
    assert d["written"]["out"] == "out/ported.pt"
    import torch

    sd = torch.load(twins[1] / "out/ported.pt", weights_only=True)
    assert sd["epoch"] == 5 and set(sd["model"]) == {p["target"] for p in d["params"]}
    # a target that does not fit: the plan's issues, raised because an output was asked for
    code, e = twin(twins, ["port", ck, "--rules", "out/rules.toml", "--target", "returnn_torch_train/net-model/network.003.pt",
                           "--out", "out/mismatch.pt"], returnn_ckpt.port, ck, rules="out/rules.toml",
                   target="returnn_torch_train/net-model/network.003.pt", out="out/mismatch.pt")
    assert code == 1 and isinstance(e, returnn_ckpt.Error) and e.outcome == "negative"
    assert not (twins[1] / "out/mismatch.pt").exists()
