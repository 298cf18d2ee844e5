#!/usr/bin/env python3
"""Differential oracle for RF models on RETURNN's TF engine (`returnn/tf/engine_rf.py`).

Same output format as torch_oracle.py (see there), for cases whose config has
`backend = "tensorflow"` and a `get_model` returning an RF module. Files are TF checkpoints
(written with TF's SaveV2 op): the run's own epochs (`net-model/network.NNN`, RF names plus
`global_step` and `epoch`, as the engine saves them) and preload sources. Per case, in this one
process (TF's import is slow), the engine's loading steps run as `init_train_from_config`
(tasks train, eval) and `init_network_from_config` (forward) do them: `_create_model` in a new
graph and session, variables initialised, `get_epoch_model`, `_load_model` when there is a
checkpoint (forward asserts one), `_preload_from_files`. The other steps there (placeholders,
the step function, the updater) do not touch the parameters.

Recorded per parameter (`named_parameters()`): sha256 of the final value, whether it kept its
initial value, and which file tensors give it (numpy's conversion to the variable's dtype, as a
feed does); or the exception.
"""

import argparse
import hashlib
import json
import os
import random
import sys
import time

NAMES = ["enc.lin.weight", "enc.lin.bias", "dec.w", "lm.emb", "lm.out.weight", "lm.out.bias", "lm_x", "w", "s"]


def np_sha(a):
    import numpy

    return hashlib.sha256(numpy.ascontiguousarray(a).tobytes()).hexdigest()


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.counter = 0
        self.desc = []

    def values(self, shape, dtype):
        import numpy

        self.counter += 1
        n = int(numpy.prod(shape)) if shape else 1
        base = self.counter * 37.0 + 0.25
        a = base + numpy.arange(n, dtype=numpy.float64) * 1.5 + 0.1 * (numpy.arange(n) % 3)
        if self.rng.random() < 0.3:
            a = -a
        if dtype == "float64" and self.rng.random() < 0.3 and n:
            a[0] = 1 + 2**-11 + 2**-40
        return a.reshape(shape).astype(dtype)


def save_bundle(path, tensors):
    import tensorflow as tf

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    names = list(tensors)
    with tf.Graph().as_default(), tf.compat.v1.Session() as s:
        s.run(
            tf.raw_ops.SaveV2(
                prefix=path,
                tensor_names=names,
                shape_and_slices=[""] * len(names),
                tensors=[tf.constant(tensors[n]) for n in names],
            )
        )


def gen_case(seed, idx, work):
    rng = random.Random(seed * 7919 + idx)
    g = Gen(rng)
    case_dir = os.path.abspath(os.path.join(work, "rftf_%04d" % idx))
    os.makedirs(case_dir, exist_ok=True)
    names = rng.sample(NAMES, rng.randint(2, 5))
    names = [n for n in names if not any(o != n and o.startswith(n + ".") for o in names)]
    spec = []
    for n in names:
        spec.append(
            {
                "name": n,
                "shape": rng.choice([[], [2], [3], [2, 3]]),
                "dtype": rng.choice(["float32"] * 4 + ["float64"]),
                "non_critical": rng.random() < 0.15,
                "tied_to": None,
            }
        )
    if len(spec) >= 2 and rng.random() < 0.1:
        spec[-1]["tied_to"] = spec[0]["name"]
        spec[-1]["shape"], spec[-1]["dtype"] = spec[0]["shape"], spec[0]["dtype"]
    init = {p["name"]: (-1000 - abs(g.values(p["shape"], p["dtype"]))).astype(p["dtype"]) for p in spec}
    # the targets: the model's named_parameters() (tied ones once, under RF's first name)
    import tensorflow as tf

    with tf.Graph().as_default():
        model = build(spec, init)
        params = [
            {"name": n, "shape": [d.dimension for d in p.dims], "dtype": p.dtype, "non_critical": p.non_critical_for_restore}
            for n, p in model.named_parameters()
        ]
    task = rng.choice(["train"] * 4 + ["eval"] + ["forward"] * 2)
    config = {"backend": "tensorflow", "task": task, "model": "net-model/network"}
    files = []

    def state(prefix="", keep=0.85, dtype_change=0.2):
        d = {}
        for p in params:
            n = p["name"]
            if prefix:
                if not n.startswith(prefix):
                    continue
                n = n[len(prefix):]
            if rng.random() > keep:
                continue
            shape, dtype = list(p["shape"]), p["dtype"]
            r = rng.random()
            if r < 0.02:
                shape = shape + [2]
            elif r < 0.02 + dtype_change:
                dtype = rng.choice(["float64", "float32", "float16"])
            d[n] = g.values(shape, dtype)
        if rng.random() < 0.3 or not d:
            d["extra_%d" % g.counter] = g.values([2], "float32")
        return d

    r = rng.random()
    if r < 0.3:
        n_ep = rng.randint(1, 2)
        for ep in range(1, n_ep + 1):
            d = state(keep=rng.choice([1.0, 1.0, 0.9]), dtype_change=0.02)
            d["global_step"] = __import__("numpy").int64(10 * ep)
            d["epoch"] = __import__("numpy").int64(ep)
            p = os.path.join(case_dir, "net-model/network.%03d" % ep)
            save_bundle(p, d)
            open(p + ".meta", "w").close()
        if task in ("eval", "forward"):
            config["load_epoch"] = rng.randint(1, n_ep)
        g.desc.append("existing epochs 1..%d" % n_ep)
    elif r < 0.65:
        save_bundle(os.path.join(case_dir, "main.ckpt"), state(keep=rng.choice([1.0, 1.0, 0.9]), dtype_change=0.02))
        open(os.path.join(case_dir, "main.ckpt.meta"), "w").close()
        config["load"] = "main.ckpt"
        if task == "eval":
            config["load_epoch"] = 1
        g.desc.append("load main.ckpt")
    elif r < 0.75 and task == "train":
        save_bundle(os.path.join(case_dir, "imp.ckpt"), state(keep=1.0, dtype_change=0.02))
        open(os.path.join(case_dir, "imp.ckpt.meta"), "w").close()
        config["import_model_train_epoch1"] = "imp.ckpt"
        g.desc.append("import imp.ckpt")
    else:
        if task == "eval":
            task = config["task"] = "train"
        g.desc.append("no main checkpoint")
    preload = {}
    prefixes = sorted({n.split(".")[0] + "." for n in names if "." in n} | {"lm", "enc."})
    if rng.random() < 0.1:
        prefixes.append("zz")
    for k in range(rng.choice([0, 1, 1, 2, 3])):
        key = rng.choice(["a", "b", "lm", "z"]) + ("" if rng.random() < 0.6 else str(k))
        if key in preload:
            key += "_%d" % k
        prefix = rng.choice(prefixes) if rng.random() < 0.6 else ""
        fname = "src_%d.ckpt" % k
        save_bundle(os.path.join(case_dir, fname), state(prefix=prefix, keep=rng.choice([1.0, 0.8])))
        files.append(fname)
        o = {"filename": fname if rng.random() > 0.03 else "missing.ckpt"}
        if prefix or rng.random() < 0.1:
            o["prefix"] = prefix if rng.random() > 0.03 else None
        if rng.random() < 0.35:
            o["ignore_missing"] = rng.choice([True, True, 1])
        r = rng.random()
        if r < 0.05:
            o[rng.choice(["init_for_train", "checkpoint_key", "ignore_params", "var_name_mapping"])] = True
        elif r < 0.065:
            del o["filename"]
        elif r < 0.075:
            o = ["not", "a", "dict"]
        preload[key] = o
    if preload:
        config["preload_from_files"] = preload
    g.desc.append("task %s, %d entries" % (task, len(preload)))
    with open(os.path.join(case_dir, "returnn.config"), "w") as f:
        f.write("#!rnn.py\n")
        for k, v in config.items():
            f.write("%s = %r\n" % (k, v))
        f.write("\n\ndef get_model(**_kwargs):\n    raise Exception('replaced by the oracle')\n")
    targets = params
    with open(os.path.join(case_dir, "target.json"), "w") as f:
        json.dump({"variables": targets}, f, indent=1)
    return case_dir, g.desc, spec, init, files, [p["name"] for p in params]


def build(spec, init):
    import returnn.frontend as rf
    from returnn.tensor import Dim

    class Root(rf.Module):
        pass

    root = Root()
    by = {}
    for p in spec:
        parts = p["name"].split(".")
        mod = root
        for part in parts[:-1]:
            if not hasattr(mod, part):
                setattr(mod, part, rf.Module())
            mod = getattr(mod, part)
        if p["tied_to"]:
            setattr(mod, parts[-1], by[p["tied_to"]])
            continue
        dims = [Dim(d, name="%s_%d" % (p["name"], i)) for i, d in enumerate(p["shape"])]
        par = rf.Parameter(dims, dtype=p["dtype"], non_critical_for_restore=p["non_critical"])
        par.initial = init[p["name"]]
        setattr(mod, parts[-1], par)
        by[p["name"]] = par
    return root


def run_case(Engine, tf, case_dir, spec, init, files, names):
    import numpy
    from returnn.config import Config
    from returnn.tf.checkpoint_rf import get_model_params

    cwd = os.getcwd()
    os.chdir(case_dir)
    try:
        config = Config()
        config.load_file("returnn.config")
        config.typed_dict["get_model"] = lambda **_kw: build(spec, init)
        task = config.value("task", "train")
        try:
            e = Engine(config)
            e._graph = tf.compat.v1.Graph()
            with e._graph.as_default():
                e.session = tf.compat.v1.Session(graph=e._graph)
                e._create_model(epoch=1, step=0)
                e.session.run(tf.compat.v1.global_variables_initializer())
                _, load_filename = e.get_epoch_model(config)
                if task == "forward":
                    assert load_filename, "forward task: no checkpoint to load (set `load` or `model` in the config)"
                if load_filename:
                    e._load_model(filename=load_filename)
                e._preload_from_files()
                values = get_model_params(e.model, e.session)
        except Exception as ex:
            return {"error": {"type": type(ex).__name__, "message": str(ex)}}
        cands = {}
        all_files = list(files)
        for extra in ["main.ckpt", "imp.ckpt"]:
            if os.path.exists(extra + ".index"):
                all_files.append(extra)
        if os.path.isdir("net-model"):
            all_files += sorted(
                os.path.join("net-model", x[: -len(".index")]) for x in os.listdir("net-model") if x.endswith(".index")
            )
        for fname in all_files:
            if not os.path.exists(fname + ".index"):
                continue
            r = tf.compat.v1.train.NewCheckpointReader(fname)
            cands[fname] = {k: r.get_tensor(k) for k in r.get_variable_to_shape_map()}
        params = {}
        root_of = {x["name"]: x["tied_to"] or x["name"] for x in spec}
        for name in names:
            v = numpy.asarray(values[name])
            h = np_sha(v)
            srcs = []
            is_init = np_sha(init[root_of[name]]) == h
            if not is_init:
                for fname, ts in cands.items():
                    for k, t in ts.items():
                        t = numpy.asarray(t)
                        if t.shape == v.shape and t.dtype.kind == "f" and np_sha(t.astype(v.dtype)) == h:
                            srcs.append("%s|%s" % (fname, k))
            params[name] = {"sha256": h, "init": is_init, "frozen": False, "sources": srcs}
        return {"params": params}
    finally:
        os.chdir(cwd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.time()
    import tensorflow as tf
    from returnn.log import log as returnn_log
    from returnn.util.basic import BackendEngine

    returnn_log.initialize(verbosity=[0])
    BackendEngine.select_engine(engine=BackendEngine.TensorFlow)
    from returnn.tf.engine_rf import Engine

    t_import = time.time() - t0
    cases = []
    for i in range(args.cases):
        case_dir, desc, spec, init, files, names = gen_case(args.seed, i, args.work)
        expected = run_case(Engine, tf, case_dir, spec, init, files, names)
        cases.append({"dir": case_dir, "desc": desc, "expected": expected})
    with open(args.out, "w") as f:
        json.dump({"seed": args.seed, "import_seconds": t_import, "cases": cases}, f, indent=1)
    print(
        "RF-on-TF oracle (RETURNN side): %d cases in %.1fs (imports %.1fs)" % (len(cases), time.time() - t0, t_import),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
