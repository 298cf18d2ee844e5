#!/usr/bin/env python3
"""Driver of `cargo xtask pt-faces-oracle` (see xtask/src/pt_faces_oracle.rs): returnn-ckpt's
`.pt` outputs checked with real torch, TensorFlow and RETURNN from the pinned venv.

Commands (each one Python process):

    pt_faces.py check-converted --list LIST.json --out RESULT.json
        LIST.json: {"items": [{"pt": file we wrote, "tf": TF prefix or null, "src_pt": .pt
        source or null, "names": [[source name, key in "model"], ...], "skipped": [names],
        "epoch": int, "step": int}]}. For each item: `torch.load(pt, weights_only=True,
        mmap=True)` must give RETURNN's layout {"model", "epoch", "step",
        "effective_learning_rate", "returnn_version"}, exactly the listed keys, and every
        tensor must equal the source's value bit for bit (TF: `tf.train.load_checkpoint`; .pt:
        `torch.load(weights_only=True)`), dtype and shape included; every source tensor must
        be either listed or skipped. Where TensorFlow cannot read a tensor itself (a sliced
        float16 tensor: "Dtype half not supported", also with RestoreV2), the item's
        "manifest_sha256" (the fixture generator's digest, assembled from RestoreV2 reads of the
        slices) is compared instead.

    pt_faces.py returnn-load --pt FILE --work DIR --out RESULT.json
        RETURNN's real PyTorch engine (`Engine._load_model`, task train, a torch.nn.Module
        whose parameters are named like the file's "model" keys, each initialised to a value
        the file does not hold) loads FILE once as `import_model_train_epoch1` and once as a
        `preload_from_files` entry (`init_for_train: True`, the default `checkpoint_key`
        "model"). Afterwards every parameter must hold the file's value bit for bit; the
        global train step of the import must be the file's `step`.

    pt_faces.py avg-cases --out DIR --cases N --seed S
        N sets of 2-4 RETURNN-layout checkpoints written by `torch.save` (float16, bfloat16,
        float32, float64 and int64 tensors, random shapes, no tied tensors), DIR/avg_NNNN_K.pt,
        and DIR/avg_NNNN.expected.pt: the average as RETURNN's tools/torch_avg_checkpoints.py
        computes it (`out[k] = v` for the first input, `out[k] += v` for the others, then
        `out[k] /= n` for floating-point tensors; `model` a plain dict; max epoch and step;
        merged_epochs/merged_steps; the other entries from the first input). Integer tensors,
        which that tool's `/=` refuses, are expected from the last input (returnn-ckpt's rule).

    pt_faces.py avg-check --dir DIR --cases N --out RESULT.json
        compares DIR/avg_NNNN.ours.pt with DIR/avg_NNNN.expected.pt: the same top-level entries
        in the same order with equal values, the same model keys in the same order, every
        tensor equal bit for bit.
"""

import argparse
import hashlib
import json
import os
import random
import sys


def tbytes(t):
    import torch

    t = t.detach().contiguous().cpu().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes()


def tname(t):
    return str(t.dtype).replace("torch.", "")


def check_converted(args):
    import torch

    items = json.load(open(args.list))["items"]
    tf = None
    results = []
    n_tensors = 0
    n_manifest = 0
    for it in items:
        problems = []
        try:
            got = torch.load(it["pt"], weights_only=True, mmap=True)
        except Exception as e:  # noqa: BLE001 - reported
            results.append({"pt": it["pt"], "problems": ["torch.load: %s: %s" % (type(e).__name__, e)]})
            continue
        keys = list(got.keys()) if isinstance(got, dict) else None
        if keys != ["model", "epoch", "step", "effective_learning_rate", "returnn_version"]:
            problems.append("top-level keys %r" % (keys,))
        model = got.get("model", {}) if isinstance(got, dict) else {}
        if got.get("epoch") != it["epoch"] or got.get("step") != it["step"]:
            problems.append("epoch/step %r/%r, expected %r/%r" % (got.get("epoch"), got.get("step"), it["epoch"], it["step"]))
        want_keys = [k for _, k in it["names"]]
        if list(model.keys()) != want_keys:
            problems.append("model keys %r, expected %r" % (list(model.keys()), want_keys))
        if it["tf"]:
            if tf is None:
                os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
                import tensorflow as tf_mod

                tf = tf_mod
            reader = tf.train.load_checkpoint(it["tf"])
            dtypes = reader.get_variable_to_dtype_map()
            src_names = set(dtypes)

            def source(name, prefix=it["tf"]):
                import numpy as np

                try:
                    v = reader.get_tensor(name)
                except Exception:  # noqa: BLE001 - TF's py reader refuses some (V1, sliced)
                    try:
                        (v,) = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[name],
                                                    shape_and_slices=[""], dtypes=[dtypes[name]])
                        v = v.numpy()
                    except Exception:  # noqa: BLE001 - e.g. sliced float16: the manifest's digest
                        return dtypes[name].name, None, it["manifest_sha256"][name]
                v = np.asarray(v)
                return dtypes[name].name, list(v.shape), np.ascontiguousarray(v).tobytes()
        else:
            src = torch.load(it["src_pt"], weights_only=True)
            sd = src.get("model", src)
            src_names = set(sd)

            def source(name):
                v = sd[name]
                return tname(v), list(v.shape), tbytes(v)

        listed = set(n for n, _ in it["names"]) | set(it["skipped"])
        missing = sorted(src_names - listed)
        if missing:
            problems.append("source tensors neither written nor skipped: %r" % missing[:10])
        for name, key in it["names"]:
            if key not in model:
                continue
            t = model[key]
            dt, shape, raw = source(name)
            if shape is None:  # only the manifest's digest
                shape, raw = list(t.shape), raw
                ours = hashlib.sha256(tbytes(t)).hexdigest()
                if tname(t) != dt or ours != raw:
                    problems.append("%s: ours %s sha256 %s, manifest %s %s" % (name, tname(t), ours, dt, raw))
                n_tensors += 1
                n_manifest += 1
                continue
            if tname(t) != dt or list(t.shape) != shape or tbytes(t) != raw:
                problems.append("%s -> %s: ours %s %r, source %s %r, bytes equal %s" % (
                    name, key, tname(t), list(t.shape), dt, shape, tbytes(t) == raw))
            n_tensors += 1
        results.append({"pt": it["pt"], "problems": problems})
    json.dump({"files": len(items), "tensors": n_tensors, "via_manifest": n_manifest, "results": results},
              open(args.out, "w"), indent=1)


def returnn_load(args):
    import torch
    from returnn.config import Config
    from returnn.log import log as returnn_log
    from returnn.util.basic import BackendEngine

    returnn_log.initialize(verbosity=[0])
    BackendEngine.select_engine(engine=BackendEngine.Torch)
    from returnn.torch.engine import Engine

    ckpt = torch.load(args.pt, weights_only=True)
    model_sd = ckpt["model"]
    params = [(k, v) for k, v in model_sd.items() if v.dtype.is_floating_point]

    def get_model(**_kw):
        root = torch.nn.Module()
        for name, v in params:
            parts = name.split(".")
            mod = root
            for p in parts[:-1]:
                if not hasattr(mod, p):
                    mod.add_module(p, torch.nn.Module())
                mod = getattr(mod, p)
            # a value the file does not hold
            init = torch.full(v.shape, 12345.0, dtype=v.dtype)
            mod.register_parameter(parts[-1], torch.nn.Parameter(init))
        return root

    out = {"params": len(params), "runs": {}}
    os.makedirs(args.work, exist_ok=True)
    engine = Engine(Config({"backend": "torch"}))
    for how in ["import_model_train_epoch1", "preload_from_files"]:
        run = {"problems": []}
        d = {
            "backend": "torch",
            "task": "train",
            "device": "cpu",
            "model": os.path.join(args.work, how, "net-model", "network"),
            "num_epochs": 5,
        }
        if how == "import_model_train_epoch1":
            d["import_model_train_epoch1"] = args.pt
        else:
            d["preload_from_files"] = {"converted": {"filename": args.pt, "init_for_train": True}}
        config = Config(d)
        config.typed_dict["get_model"] = get_model
        engine.config = config
        engine.epoch = None
        try:
            engine._start_epoch = engine.get_train_start_epoch(config)
            engine._load_model()
        except Exception as e:  # noqa: BLE001 - reported
            run["problems"].append("_load_model: %s: %s" % (type(e).__name__, e))
            out["runs"][how] = run
            continue
        sd = engine._pt_model.state_dict()
        for name, v in params:
            if name not in sd:
                run["problems"].append("%s: not in the module's state dict" % name)
            elif tbytes(sd[name]) != tbytes(v) or sd[name].dtype != v.dtype:
                run["problems"].append("%s: the module holds other values than the file" % name)
        run["epoch"] = engine.epoch
        run["global_train_step"] = engine.global_train_step
        if how == "import_model_train_epoch1" and engine.global_train_step != ckpt["step"]:
            run["problems"].append("global train step %r, the file's step %r" % (engine.global_train_step, ckpt["step"]))
        out["runs"][how] = run
    json.dump(out, open(args.out, "w"), indent=1)


FLOATS = ["float16", "bfloat16", "float32", "float64"]


def avg_cases(args):
    import torch

    os.makedirs(args.out, exist_ok=True)
    for i in range(args.cases):
        rng = random.Random(args.seed * 1000003 + i)
        torch.manual_seed(args.seed * 1000003 + i)
        n_in = rng.randint(2, 4)
        keys = []
        for k in range(rng.randint(1, 6)):
            dt = rng.choice(FLOATS + ["int64"])
            shape = [rng.randint(0, 5) for _ in range(rng.randint(0, 3))]
            keys.append(("layer%d.%s" % (k, rng.choice(["weight", "bias", "scale"])), dt, shape))
        inputs = []
        for j in range(n_in):
            model = {}
            for name, dt, shape in keys:
                if dt == "int64":
                    model[name] = torch.randint(-1000, 1000, shape, dtype=torch.int64)
                else:
                    scale = rng.choice([1e-3, 1.0, 100.0, 6e4 if dt == "float16" else 1e30])
                    model[name] = (torch.randn(shape, dtype=torch.float64) * scale).to(getattr(torch, dt))
            state = {
                "model": model,
                "epoch": rng.randint(1, 50),
                "step": rng.randint(0, 10000),
                "effective_learning_rate": rng.choice([None, rng.random()]),
                "returnn_version": "test-%d" % j,
            }
            path = os.path.join(args.out, "avg_%04d_%d.pt" % (i, j))
            torch.save(state, path)
            inputs.append(state)
        # the tool's merge_checkpoints, on copies
        out_model = {}
        num = {}
        out_state = {"model": out_model, "merged_epochs": [], "merged_steps": []}
        for st in inputs:
            for k, v in st["model"].items():
                v = v.clone()
                if k in out_model:
                    if v.dtype.is_floating_point:
                        out_model[k] += v
                    else:
                        out_model[k] = v  # returnn-ckpt: ints from the last input
                else:
                    out_model[k] = v
                num[k] = num.get(k, 0) + 1
            for k in ["epoch", "step"]:
                if k in st:
                    out_state[k] = max(out_state[k], st[k]) if k in out_state else st[k]
            out_state["merged_epochs"].append(st.get("epoch"))
            out_state["merged_steps"].append(st.get("step"))
            for k, v in st.items():
                if k in ("model", "epoch", "step", "merged_epochs", "merged_steps"):
                    continue
                if k not in out_state:
                    out_state[k] = v
        for k in out_model:
            if out_model[k].dtype.is_floating_point:
                out_model[k] /= num[k]
        torch.save(out_state, os.path.join(args.out, "avg_%04d.expected.pt" % i))
        with open(os.path.join(args.out, "avg_%04d.json" % i), "w") as f:
            json.dump({"inputs": n_in}, f)


def avg_check(args):
    import torch

    results = []
    tensors = 0
    for i in range(args.cases):
        problems = []
        ours = torch.load(os.path.join(args.dir, "avg_%04d.ours.pt" % i), weights_only=True, mmap=True)
        want = torch.load(os.path.join(args.dir, "avg_%04d.expected.pt" % i), weights_only=True)
        if list(ours.keys()) != list(want.keys()):
            problems.append("top-level keys %r, expected %r" % (list(ours.keys()), list(want.keys())))
        for k in want:
            if k != "model" and ours.get(k) != want[k]:
                problems.append("%s: %r, expected %r" % (k, ours.get(k), want[k]))
        om, wm = ours.get("model", {}), want["model"]
        if list(om.keys()) != list(wm.keys()):
            problems.append("model keys %r, expected %r" % (list(om.keys()), list(wm.keys())))
        for k, v in wm.items():
            if k in om:
                tensors += 1
                if om[k].dtype != v.dtype or list(om[k].shape) != list(v.shape) or tbytes(om[k]) != tbytes(v):
                    problems.append("%s (%s %r): values differ" % (k, tname(v), list(v.shape)))
        results.append({"case": i, "problems": problems})
    json.dump({"cases": args.cases, "tensors": tensors, "results": results}, open(args.out, "w"), indent=1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("check-converted")
    a.add_argument("--list", required=True)
    a.add_argument("--out", required=True)
    a = sub.add_parser("returnn-load")
    a.add_argument("--pt", required=True)
    a.add_argument("--work", required=True)
    a.add_argument("--out", required=True)
    a = sub.add_parser("avg-cases")
    a.add_argument("--out", required=True)
    a.add_argument("--cases", type=int, default=50)
    a.add_argument("--seed", type=int, default=1)
    a = sub.add_parser("avg-check")
    a.add_argument("--dir", required=True)
    a.add_argument("--cases", type=int, required=True)
    a.add_argument("--out", required=True)
    args = ap.parse_args()
    {"check-converted": check_converted, "returnn-load": returnn_load,
     "avg-cases": avg_cases, "avg-check": avg_check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
