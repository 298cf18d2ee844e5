#!/usr/bin/env python3
"""
Differential oracle for RETURNN's model selection (`returnn-ckpt resolve` / `path`).

Generates seeded scenarios (files on disk + a config in one of RETURNN's three forms + `++key value`
overrides) under WORKDIR/case-NNNNN/, runs the real RETURNN (installed in this Python) on each, in
one process, and writes WORKDIR/cases.json with what RETURNN decided or raised. The Rust side
(`cargo xtask returnn-oracle`) runs `returnn-ckpt resolve`/`path` on the same cases and compares.

How RETURNN is driven (mirrors `returnn/__main__.py`):
  1. config: `Config()`, `parse_cmd_args(overrides)`, `load_file(config)`, `parse_cmd_args(overrides)`
     (as `__main__.init_config`), in the case directory (RETURNN's working directory);
  2. backend: `BackendEngine.select_engine(config=config, _select_rf_backend=False)` as
     `__main__.init_backend_engine` does, except that a config with neither `backend` nor
     `use_tensorflow` falls back to the TF net-dict engine (where `__main__` raises
     "No backend defined"; returnn-ckpt is a TF tool and assumes TF: docs/returnn-engine.md §6.1);
  3. `__main__.execute_main_task`'s config rules: `eval` without `load` (`epoch`/`load_epoch`
     checks, `epoch` copied into `load_epoch`); `forward`/`hpx` on the TF net-dict engine without a
     `forward_callback` (`epoch` copied into `load_epoch`);
  4. tasks that call `init_train_from_config` (train, eval, initialize_model, nop_init_net_train):
     `EngineBase.get_train_start_epoch(config)` (which calls `get_epoch_model`); the others:
     `EngineBase.get_epoch_model(config)`. The log lines printed by that first call are the notes.
  5. `EngineBase.get_existing_models(config)`.
Path queries: `get_checkpoint_filepattern(name)`, then `model_epoch_from_filename(pattern)`.

Usage: python oracle.py --workdir DIR --cases N --seed S
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sys
import traceback


def _err(e: BaseException) -> dict:
    tb = traceback.extract_tb(e.__traceback__)
    where = "%s:%s" % (tb[-1].name, tb[-1].lineno) if tb else ""
    return {"type": type(e).__name__, "message": str(e), "where": where}


# ---------------------------------------------------------------------------------------------
# scenario generation

MODEL_PREFIXES = ["net-model/network", "models/epoch", "net", "out.d/model.v2", "a b/net", "./net", "ckpts/"]
EPOCH_POOL = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20, 99, 100, 101, 999, 1000, 1001, 1234]
TASKS = [
    "train",
    "train",
    "train",
    "search",
    "eval",
    "eval",
    "forward",
    "forward",
    "hpx",
    "initialize_model",
    "nop_init_net_train",
    "compute_priors",
]


def efn(model: str, epoch: int, pretrain: bool = False) -> str:
    return model + (".pretrain" if pretrain else "") + ".%03d" % epoch


def touch(path: str, content: bytes = b"x"):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    if os.path.lexists(path):
        return
    with open(path, "wb") as f:
        f.write(content)


def symlink(target: str, path: str):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    if os.path.lexists(path):
        return
    os.symlink(target, path)


def make_files(rng: random.Random, model: str, torchish: bool) -> tuple[list[str], list[int]]:
    """Creates checkpoint-like files for `model` in the cwd. Returns names worth querying and
    the epochs that have some file."""
    names = []
    n = rng.choice([0, 1, 2, 3, 4, 6])
    epochs = sorted(rng.sample(EPOCH_POOL, n))
    for e in epochs:
        pretrain = rng.random() < 0.15
        base = efn(model, e, pretrain)
        kind = rng.choices(
            ["tf", "tf_noindex", "bare", "index_only", "meta_only", "data_only", "dir", "torch", "torch_opt"],
            weights=[10, 1, 2, 2, 2, 1, 1, 1, 1] if not torchish else [2, 0, 1, 1, 0, 0, 1, 6, 6],
        )[0]
        if kind in ("tf", "tf_noindex"):
            touch(base + ".meta")
            touch(base + ".data-00000-of-00001")
            if kind == "tf":
                touch(base + ".index")
        elif kind == "bare":
            touch(base)
        elif kind == "index_only":
            touch(base + ".index")
        elif kind == "meta_only":
            touch(base + ".meta")
        elif kind == "data_only":
            touch(base + ".data-00000-of-00001")
        elif kind == "dir":
            os.makedirs(base, exist_ok=True)
        elif kind == "torch":
            touch(base + ".pt")
        elif kind == "torch_opt":
            touch(base + ".pt")
            touch(base + ".opt.pt")
        names.append(base + rng.choice(["", ".meta", ".index", ".pt", ".data-00000-of-00001"]))
    # symlinks (like a "best" checkpoint link)
    if epochs and rng.random() < 0.35:
        e = rng.choice(epochs)
        other = rng.choice(EPOCH_POOL + [x + 1 for x in epochs] * 3)
        link = efn(model, other)
        tgt_base = os.path.basename(efn(model, e)) if rng.random() < 0.5 else efn(model, e)
        if rng.random() < 0.5:
            tgt_base = os.path.abspath(efn(model, e))
        ext = rng.choice([".meta", ".meta", ".pt", ".index"] + [".pt"] * (3 * torchish))
        bad = rng.random() < 0.15
        symlink(tgt_base + (ext if not bad else ".data"), link + ext)
        if rng.random() < 0.5:
            touch(link + ".index")
        if ext == ".pt" and rng.random() < 0.5:
            touch(link + ".opt.pt")
        names.append(link + ext)
        names.append(link)
    if rng.random() < 0.1:
        # a "best" link without an epoch in its name
        e = rng.choice(EPOCH_POOL)
        symlink(os.path.basename(efn(model, e)) + ".meta", model + ".best.meta")
        names.append(model + ".best")
    if rng.random() < 0.05:
        touch(efn(model, 0) + ".meta")
        touch(efn(model, 0) + ".index")
        names.append(efn(model, 0))
    return names, epochs


def rand_int_value(rng: random.Random, pool):
    """A value for an int option: mostly ints, sometimes odd types."""
    r = rng.random()
    if r < 0.88:
        return rng.choice(pool)
    return rng.choice([None, "2", "3", True, False, 3.0, [2], "abc", " 4 ", "+3", "0x3", "1_0"])


def gen_config(rng: random.Random, model_files: list[str], epochs: list[int], torchish: bool) -> dict:
    cfg = {}
    if rng.random() < 0.9:
        cfg["model"] = rng.choice(MODEL_PREFIXES) if rng.random() < 0.1 else None  # replaced below
    task = rng.choice(TASKS)
    if rng.random() < 0.85:
        cfg["task"] = task
    r = rng.random()
    if torchish and rng.random() < 0.8:
        cfg["backend"] = "torch"
    elif r < 0.35:
        cfg["backend"] = "tensorflow-net-dict"
    elif r < 0.55:
        cfg["use_tensorflow"] = rng.choice([True, True, 1, "True"])
    elif r < 0.7:
        cfg["backend"] = "tensorflow"
    elif r < 0.82:
        cfg["backend"] = "torch"
    elif r < 0.85:
        cfg["backend"] = rng.choice(["tensorflow_net_dict", "TF"])
    elif r < 0.88:
        cfg["use_tensorflow"] = False
        cfg["backend"] = "tensorflow-net-dict"
    # else: no backend at all (see module doc)
    near = [e + d for e in epochs for d in (-1, 0, 0, 1)] or [1]
    if rng.random() < 0.45:
        pool = [1, 2, 3, 4, 5, 8, 10, 12, 100, 1000, 1234, 0, -1] + [e for e in epochs] * 2
        if rng.random() < 0.01:
            pool = [25000]  # beyond returnn-ckpt's probe limit (directory listing instead)
        cfg["num_epochs"] = rand_int_value(rng, pool)
    if rng.random() < 0.4:
        cfg["load_epoch"] = rand_int_value(rng, [1, 2, 3, 4, 5, 6, 10, 100, 1000, 1234, 0, -1, 7] + near * 5)
    if rng.random() < 0.35:
        v = rng.choice(["auto", 1, 1, 2, 3, 4, 5, 6, 11, 101, 1001, 0, -2, "x", None, "2", 2.0] + near * 2)
        cfg["start_epoch"] = v
    if rng.random() < 0.3:
        cfg["epoch"] = rand_int_value(rng, [-1, 0, 1, 2, 3, 4, 5, 10, 1000] + near)
    if rng.random() < 0.3:
        choices = [n for n in model_files] + [
            "import/model.010",
            "import/model.010.meta",
            "import/model",
            "missing/model.003",
            None,
            ".meta",
            ".index",
            "import/model.010.pt",
            "import/model.010.index",
            "import",
            "import/",
        ]
        cfg["load"] = rng.choice(choices)
    if rng.random() < 0.3:
        cfg["import_model_train_epoch1"] = rng.choice(
            ["import/model.010", "import/model.010", "import/model.010.meta", "import/model", "import/model.010.index", "missing/x", ""]
        )
    if rng.random() < 0.05:
        cfg["start_batch"] = rng.choice(["auto", "5", 0])
    if rng.random() < 0.08:
        cfg["forward_callback"] = rng.choice(["cb", "", None, 0])
    return cfg


def py_literal(rng: random.Random, v) -> str:
    """A Python source literal for `v`, in one of the spellings people write."""
    r = rng.random()
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, int):
        if r < 0.05:
            return "0x%x" % v if v >= 0 else "-0x%x" % -v
        if r < 0.1 and v >= 1000:
            return "{:_}".format(v)
        if r < 0.15:
            return "(%d)" % v
        if r < 0.2 and v >= 0:
            return "+%d" % v
        return repr(v)
    if isinstance(v, str):
        if r < 0.1 and len(v) > 2:
            return "%r %r" % (v[:2], v[2:])  # implicit concatenation
        if r < 0.15:
            return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
        if r < 0.2:
            return "(%r,)" % v  # a tuple: config.value joins it
        return repr(v)
    return repr(v)


def render(rng: random.Random, cfg: dict) -> tuple[str, str, list[str]]:
    """Returns (file name, content, overrides)."""
    overrides = []
    form = rng.choice(["py", "py", "json", "lines"])
    file_part = {}
    for k, v in cfg.items():
        # move some options to `++key value` (string values)
        if rng.random() < 0.2 and not isinstance(v, list):
            s = "None" if v is None else str(v)
            if rng.random() < 0.05:
                s = rng.choice(["abc", "3.0", "[2]", "'2'", "(3,)", "1e3", "2 ", "None", "True", "0o7", "-1"])
            if s.startswith("-"):
                s = "+" + s
            overrides += ["++" + k, s]
            if rng.random() < 0.4:
                file_part[k] = v  # override an option the file also sets (maybe computed)
        else:
            file_part[k] = v
    if form == "py":
        lines = ["#!rnn.py"] if rng.random() < 0.7 else []
        if rng.random() < 0.3:
            lines.append("import os")
        for k, v in file_part.items():
            if rng.random() < 0.05:
                # an earlier assignment that the later one replaces
                lines.append("%s = %r" % (k, rng.choice([7, "x", None, [1]])))
            if rng.random() < 0.2 and isinstance(v, (str, int)) and v is not None:
                # a computed key, read from the config while it runs (RETURNN's own API; sees
                # the command line's first pass): `task = config.value("task", "train")`
                meth = "value" if isinstance(v, str) else "bool" if isinstance(v, bool) else "int"
                lines.append("%s = config.%s(%r, %s)" % (k, meth, k, py_literal(rng, v)))
            else:
                lines.append("%s = %s" % (k, py_literal(rng, v)))
        if rng.random() < 0.2:
            lines.append("def f(x):\n    return x\n")
        if rng.random() < 0.05 and "forward_callback" not in file_part:
            # a callback defined in the config (not a literal: truthy for __main__'s forward rule)
            lines.append("def forward_callback():\n    return None\n")
        name = "config.py" if not lines or lines[0] != "#!rnn.py" or rng.random() < 0.3 else "config.cfg"
        if lines and lines[0] != "#!rnn.py":
            name = "config.py"
        return name, "\n".join(lines) + "\n", overrides
    if form == "json":
        return "config.json", json.dumps(file_part, indent=1) + "\n", overrides
    lines = ["# line-based config"]
    included = []
    if rng.random() < 0.15:
        # `include FILE` (relative to RETURNN's working directory), loaded at that line
        lines.append("include cfg/inc.txt")
        for k in list(file_part):
            if rng.random() < 0.5:
                included.append((k, file_part.pop(k)))
        if rng.random() < 0.3:
            included.append(("include", "cfg/inc2.txt"))
    for k, v in included + list(file_part.items()):
        s = "None" if v is None else ",".join(map(str, v)) if isinstance(v, list) else str(v)
        if s == "" or any(c.isspace() for c in s) or "#" in s:
            continue  # not representable in the line-based form
        sep = rng.choice([" ", " ", "  ", "\t"])
        tail = rng.choice(["", "", "", "  # comment", " "])
        line = "%s%s%s%s" % (k, sep, s, tail)
        if (k, v) in included:
            with open("cfg/inc.txt", "a") as f:
                f.write(line + "\n")
        else:
            lines.append(line)
    if included:
        with open("cfg/inc.txt", "a") as f:
            f.write("")
        with open("cfg/inc2.txt", "w") as f:
            f.write("num_epochs 7\n")
    return "config.txt", "\n".join(lines) + "\n", overrides


def gen_case(rng: random.Random, case_dir: str) -> dict:
    os.makedirs(case_dir)
    old = os.getcwd()
    os.chdir(case_dir)
    try:
        model = rng.choice(MODEL_PREFIXES)
        torchish = rng.random() < 0.15
        names, epochs = make_files(rng, model, torchish)
        if rng.random() < 0.8:
            touch("import/model.010.meta")
            touch("import/model.010.index")
            if rng.random() < 0.3:
                touch("import/model.meta")
        if rng.random() < 0.1:
            touch("import/model.010.pt")
        if rng.random() < 0.05 and "/" in model:
            # the model directory reached through a symlinked directory
            d = os.path.dirname(model)
            symlink(os.path.basename(d), "linked-" + os.path.basename(d))
            model = "linked-" + os.path.basename(d) + "/" + os.path.basename(model)
        if rng.random() < 0.05:
            model = os.path.abspath(model)
        cfg = gen_config(rng, names, epochs, torchish)
        if "model" in cfg:
            cfg["model"] = model if cfg["model"] is None else cfg["model"]
            if rng.random() < 0.05:
                cfg["model"] = rng.choice(["", None, [model]])
        os.makedirs("cfg", exist_ok=True)
        fname, content, overrides = render(rng, cfg)
        if rng.random() < 0.05:
            content = rng.choice(["\n\n", "  \n", "\t"]) + content  # RETURNN strips the content
        if rng.random() < 0.05:
            content = content.replace("\n", "\r\n")
        with open(os.path.join("cfg", fname), "w") as f:
            f.write(content)
        queries = names + [
            rng.choice(
                [
                    "x/network.003.meta",
                    "network.003.index",
                    "model.pt",
                    "a.b.12.data-00000-of-00001",
                    "model.000",
                    "noepoch",
                    "dir.5/file",
                    "model.3.pretrain",
                    "net.007.META",
                    "net.0010",
                    "net.12.meta.index",
                    ".meta",
                    "net.1x",
                    "net.4294967296.meta",
                    "net.18446744073709551615",
                    "dir/",
                    "a.meta.meta",
                    "a.index.meta",
                    "x.pt.pt",
                    "net.003\n.meta",
                    "net.\u0663",
                    "net.-3",
                    "net.+3",
                    "/abs/net.002.index",
                    "net.003.pretrain.004",
                    "net.pretrain.004",
                ]
            )
        ]
        return {"config": "cfg/" + fname, "overrides": overrides, "queries": queries}
    finally:
        os.chdir(old)


# ---------------------------------------------------------------------------------------------
# running RETURNN


def run_returnn(case_dir: str, case: dict) -> dict:
    from returnn.config import Config
    from returnn.engine.base import EngineBase
    from returnn.util import basic as util
    from returnn.util.basic import BackendEngine

    old = os.getcwd()
    os.chdir(case_dir)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            config = Config()
            overrides = case["overrides"]
            if overrides:
                config.parse_cmd_args(overrides)
            config.load_file(case["config"])
            if overrides:
                config.parse_cmd_args(overrides)
            BackendEngine.selected_engine = None
            BackendEngine.select_engine(
                config=config,
                default_fallback_engine=BackendEngine.TensorFlowNetDict,
                _select_rf_backend=False,
            )
            task = config.value("task", "train")
            # __main__.execute_main_task's config rules
            if task == "eval" and not config.value("load", None):
                epoch = config.int("epoch", -1)
                load_epoch = config.int("load_epoch", -1)
                if epoch >= 0:
                    assert (load_epoch < 0) or (load_epoch == epoch), "epoch and load_epoch have to match"
                    config.set("load_epoch", epoch)
                else:
                    assert load_epoch >= 0, "specify epoch or load_epoch"
            elif task in ["forward", "hpx"]:
                if not (
                    config.typed_value("forward_callback")
                    or BackendEngine.get_selected_engine() != BackendEngine.TensorFlowNetDict
                ):
                    if config.has("epoch"):
                        config.set("load_epoch", config.int("epoch", 0))
            start_epoch = None
            mark = len(out.getvalue())
            if task in ["train", "eval", "initialize_model", "nop_init_net_train"]:
                start_epoch = EngineBase.get_train_start_epoch(config)
                notes_text = out.getvalue()[mark:]
                epoch, model = EngineBase.get_epoch_model(config)
            else:
                epoch, model = EngineBase.get_epoch_model(config)
                notes_text = out.getvalue()[mark:]
            existing = EngineBase.get_existing_models(config)
        if isinstance(epoch, bool):  # `load_epoch = True` is the int 1 in Python
            epoch = int(epoch)
        resolve = {
            "epoch": epoch,
            "model": model,
            "start_epoch": start_epoch,
            "existing": {str(k): v for k, v in sorted(existing.items())},
            # A typed `load_epoch = True` is printed as `(True, ...)` in RETURNN's log line;
            # returnn-ckpt reads it as the int 1 (documented deviation, cosmetic).
            "notes": [l.replace("(True, ", "(1, ") for l in notes_text.splitlines() if l.strip()],
        }
    except Exception as e:  # RETURNN raised: that is the expected outcome
        resolve = {"error": _err(e)}
    finally:
        os.chdir(old)

    # path queries
    os.chdir(case_dir)
    paths = []
    try:
        for q in case["queries"]:
            pattern = util.get_checkpoint_filepattern(q)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    e = util.model_epoch_from_filename(pattern)
                paths.append({"input": q, "pattern": pattern, "epoch": e})
            except Exception as ex:
                paths.append({"input": q, "pattern": pattern, "epoch": None, "error": _err(ex)})
    finally:
        os.chdir(old)
    return {"resolve": resolve, "paths": paths}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import returnn

    rng = random.Random(args.seed)
    cases = []
    for i in range(args.cases):
        d = os.path.join(args.workdir, "case-%05d" % i)
        case = gen_case(rng, d)
        case["dir"] = d
        case["id"] = i
        try:
            case["returnn"] = run_returnn(d, case)
        except Exception:
            traceback.print_exc()
            sys.exit(2)
        cases.append(case)
    with open(os.path.join(args.workdir, "cases.json"), "w") as f:
        json.dump({"returnn_version": returnn.__version__, "seed": args.seed, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
