#!/usr/bin/env python3
"""Differential oracle for parameter mapping: real RETURNN's CustomCheckpointLoader.

The rules it exercises are docs/returnn-mapping.md (rule ids in comments refer to it).

Generates seeded random cases, each one directory under --work:

  case_NNNN/src_<k>.index/.data-*   source checkpoints (written with TF's SaveV2)
  case_NNNN/target.json             the target variables, {"variables": [{name, shape, dtype}]}
  case_NNNN/config.json             a RETURNN JSON config: task train, preload_from_files

and runs, for each case, what RETURNN's engine does for `preload_from_files` at the first train
epoch (returnn/tf/engine.py: entries in sorted key order, `init_for_train` filter, per entry a
CustomCheckpointLoader over the network's params, `set_as_custom_init()` then `load_now()`),
on real tf.compat.v1 graph variables initialised to zero. Recorded per case (--out, JSON):

  {"cases": [{"dir": ..., "desc": [...], "expected": {"error": {"type", "message"}} |
     {"loaded": {"<var>": {"entry": key, "sha256": hex}}, "keys_read": {"<entry>": [...]}}}]}

A loaded variable is one registered by an entry (RETURNN's own "already loaded" marker); its
sha256 is taken from the variable's value read back from the session after the load (so the
dtype conversion on assignment is included). `keys_read` lists the checkpoint keys each entry's
loader actually read (a proxy around its checkpoint reader).

The comparison with returnn-ckpt is done by `cargo xtask mapping-oracle` (xtask/src/mapping_oracle.rs).
Only stdlib, numpy, TensorFlow and RETURNN are used.
"""

import argparse
import contextlib
import io
import hashlib
import json
import os
import random
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy  # noqa: E402

PARAMS = ("beta", "gamma", "mean", "variance")
STD_SUBS = ("lstm_cell", "rnn/lstm_cell", "basic_lstm_cell", "rnn/basic_lstm_cell")
CUDNN_COMPAT = "cudnn/params_canonical/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell"
CUDNN_CANON = "cudnn/CudnnRNNParamsToCanonical"


class Gen:
    """One case: source tensors per checkpoint, target vars, preload entries."""

    def __init__(self, rng):
        self.rng = rng
        self.counter = 0
        self.desc = []

    def arr(self, shape, dtype="float32"):
        self.counter += 1
        n = int(numpy.prod(shape)) if shape else 1
        base = self.counter * (1000 if dtype not in ("float16", "bfloat16") else 7)
        a = numpy.arange(base, base + n, dtype=numpy.float64)
        # non-integral and negative values, so that dtype conversions (rounding, truncation
        # towards zero) show
        a = a + 0.1 * (numpy.arange(n) % 3) + 0.35 * (numpy.arange(n) % 2)
        if self.rng.random() < 0.3:
            a = -a
        if dtype in ("float64", "float32") and self.rng.random() < 0.5:
            # values whose conversion to float16 / bfloat16 / float32 differs between rounding
            # once and rounding twice (via float32), ties, overflow, subnormals, NaN, inf
            tricky = [
                1 + 2**-8 + 2**-30,
                1 + 2**-11 + 2**-40,
                1 + 2**-8,
                1 + 3 * 2**-8,
                -(1 + 2**-11),
                70000.5,
                2**-20,
                1e-30,
                3.4e38 * 1.5 if dtype == "float64" else 1.0,
                float("nan") if self.rng.random() < 0.3 else 0.5,
                float("-inf") if self.rng.random() < 0.3 else -0.5,
                16777217.0,
            ]
            self.rng.shuffle(tricky)
            k = min(n, len(tricky))
            a.reshape(-1)[:k] = tricky[:k]
        return a.reshape(shape).astype(np_dtype(dtype))

    def layer_name(self, used):
        r = self.rng
        while True:
            stem = r.choice(["l", "enc", "lstm", "bn", "out", "dec", "x", "a", "ab", "main", "a.b", "l-1", "x.y"])
            name = stem + (str(r.randint(0, 12)) if r.random() < 0.8 else "")
            if r.random() < 0.15:
                name = r.choice(["sub", "enc", "net"]) + "/" + name
            if name not in used:
                used.add(name)
                return name


def pick_dtype(r):
    x = r.random()
    if x < 0.74:
        return "float32"
    if x < 0.84:
        return "float64"
    if x < 0.90:
        return "float16"
    if x < 0.94:
        return "bfloat16"
    return r.choice(["int32", "int64"])


def np_dtype(name):
    if name == "bfloat16":
        import tensorflow as tf

        return tf.bfloat16.as_numpy_dtype
    return numpy.dtype(name)


def make_layer(g, name, src, tgt, mapping, sdt, benign=False):
    """Adds one source layer (tensors into src) and its target representation (into tgt).

    :param dict src: key -> numpy array (source checkpoint)
    :param list tgt: list of (ckpt-side name, shape, dtype) the target should contain
    :param dict mapping: var_name_mapping to extend
    """
    r = g.rng
    kind = r.choice(["dense", "dense", "native", "std", "old", "cudnn_compat", "bn", "cudnn"])
    n_in, n = r.randint(0 if r.random() < 0.08 else 1, 4), r.randint(1, 4)
    tdt = pick_dtype(r)

    def put(d):
        for k, shape in d.items():
            src[k] = g.arr(shape, sdt)

    if benign:  # a case RETURNN is likely to load without an error
        mode = r.choice(["same"] * 4 + ["convert"] * 4 + ["absent", "partial", "mapped"])
    else:
        mode = r.choice(["same"] * 4 + ["convert"] * 5 + ["absent", "partial", "partial", "mapped", "mapped", "shape", "extra"])
    desc = "%s:%s:%s" % (name, kind, mode)
    if kind == "dense":
        s = {name + "/W": (n_in, n), name + "/b": (n,)}
        conv = [dict(s)]
    elif kind == "native":
        s = {name + "/rec/W": (n_in, 4 * n), name + "/rec/W_re": (n, 4 * n), name + "/rec/b": (4 * n,)}
        conv = [
            {name + "/rec/%s/kernel" % sub: (n_in + n, 4 * n), name + "/rec/%s/bias" % sub: (4 * n,)}
            for sub in STD_SUBS
        ]
        if not benign and r.random() < 0.2:  # only one of W, W_re (no kernel conversion), or the bias only
            drop = r.choice([name + "/rec/W", name + "/rec/W_re"])
            s.pop(drop)
            desc += ":drop=" + drop
    elif kind == "std":
        sub = r.choice(STD_SUBS)
        s = {name + "/rec/%s/kernel" % sub: (n_in + n, 4 * n), name + "/rec/%s/bias" % sub: (4 * n,)}
        desc += ":" + sub
        conv = [
            {name + "/rec/W": (n_in, 4 * n), name + "/rec/W_re": (n, 4 * n), name + "/rec/b": (4 * n,)},
            {name + "/rec/lstm_cell/kernel": (n_in + n, 4 * n), name + "/rec/lstm_cell/bias": (4 * n,)},
            {name + "/rec/rnn/lstm_cell/weights": (n_in + n, 4 * n), name + "/rec/rnn/lstm_cell/bias": (4 * n,)},
        ]
        if r.random() < 0.2:  # both old names present (R-LSTM-B2N-3 preference, R-REN-10 conflicts)
            other = r.choice(["lstm_cell", "rnn/lstm_cell"])
            s[name + "/rec/%s/kernel" % other] = (n_in + n, 4 * n)
            s[name + "/rec/%s/bias" % other] = (4 * n,)
            desc += "+" + other
    elif kind == "old":
        s = {name + "/rec/lstm_cell/weights": (n_in + n, 4 * n), name + "/rec/lstm_cell/biases": (4 * n,)}
        conv = [{name + "/rec/lstm_cell/kernel": (n_in + n, 4 * n), name + "/rec/lstm_cell/bias": (4 * n,)}]
    elif kind == "cudnn_compat":
        s = {name + "/rec/%s/kernel" % CUDNN_COMPAT: (n_in + n, 4 * n), name + "/rec/%s/bias" % CUDNN_COMPAT: (4 * n,)}
        conv = [{name + "/rec/lstm_fused_cell/kernel": (n_in + n, 4 * n), name + "/rec/lstm_fused_cell/bias": (4 * n,)}]
    elif kind == "bn":
        c = r.randint(1, 3)
        data = "%s_output" % name.replace("/", "_")

        def bn(v):
            if v == 0:
                return {"%s/batch_norm/%s_%s_%s" % (name, name.split("/")[-1], data, p): (1, 1, c) for p in PARAMS}
            if v == 1:
                return {"%s/batch_norm/%s" % (name, p): (1, 1, c) for p in PARAMS}
            return {"%s/batch_norm/v2_%s" % (name, p): (c,) for p in PARAMS}

        v = r.randint(0, 2)
        s = bn(v)
        if r.random() < 0.15:  # ambiguous candidates (R-BN-4)
            s["%s/batch_norm/zz_%s" % (name, r.choice(PARAMS))] = (1, 1, c)
            desc += ":ambiguous"
        desc += ":v%d" % v
        conv = [bn(w) for w in range(3) if w != v]
    else:  # cudnn canonical
        flat = r.random() < 0.5
        s = {}
        for t in range(16):
            if t < 4:
                shape = (n * n_in,) if flat else (n, n_in)
            elif t < 8:
                shape = (n, n)
            else:
                shape = (n,)
            s["%s/rec/%s:%d" % (name, CUDNN_CANON, t)] = shape
        conv = [
            {name + "/rec/lstm_block_wrapper/kernel": (n_in + n, 4 * n), name + "/rec/lstm_block_wrapper/bias": (4 * n,)},
            {name + "/rec/lstm_cell/kernel": (n_in + n, 4 * n), name + "/rec/lstm_cell/bias": (4 * n,)},
        ]
    if kind in ("native", "std", "cudnn") and not benign and r.random() < 0.1:
        # inconsistent LSTM params: the conversions' assertions
        k = r.choice(sorted(s))
        shape = list(s[k])
        shape[r.randrange(len(shape))] += r.choice([1, 2])
        s[k] = tuple(shape)
        desc += ":bad=" + k
    put(s)
    same = {k: v for k, v in s.items() if ":" not in k}
    if mode == "same":
        t = same
    elif mode == "convert":
        t = r.choice(conv)
    elif mode == "absent":
        t = {}
    elif mode == "partial":
        items = sorted(r.choice([same, r.choice(conv)]).items())
        t = dict(r.sample(items, r.randint(0, len(items))))
    elif mode == "mapped":
        base = r.choice([same, r.choice(conv)])
        new = name + "_new" if r.random() < 0.7 else "m" + name
        t = {}
        for k, shape in base.items():
            nk = new + k[len(name) :]
            t[nk] = shape
            if benign or r.random() < 0.85:
                mapping[nk] = k if k in s or benign or r.random() < 0.8 else k + "_absent"
    elif mode == "shape":
        t = dict(r.choice([same, r.choice(conv)]))
        if t:
            k = r.choice(sorted(t))
            shape = list(t[k])
            if shape and r.random() < 0.7:
                shape[r.randrange(len(shape))] += 1
            else:
                shape = shape + [1]
            t[k] = tuple(shape)
            desc += ":" + k
    else:  # extra: a variable with no source at all next to the real ones
        t = dict(same)
        t[name + "/extra_" + r.choice(["W", "b", "rec/W"])] = (n,)
    for k, shape in t.items():
        tgt.append((k, shape, tdt))
    g.desc.append(desc)


def gen_case(seed, idx):
    r = random.Random("%d/%d" % (seed, idx))
    g = Gen(r)
    benign = r.random() < 0.5
    g.desc.append("benign" if benign else "any")
    used = set()
    n_entries = 1 if r.random() < 0.75 else 2
    entry_keys = sorted(r.sample(["a_first", "b_second", "z_A", "y_B", "preload", "main"], n_entries))
    r.shuffle(entry_keys)
    sources = {}  # file tag -> {key: array}
    entries = {}
    targets = []  # (graph name, shape, dtype)
    for ei, ek in enumerate(entry_keys):
        reuse = ei > 0 and r.random() < 0.4
        tag = "src_0" if reuse else "src_%d" % ei
        src = sources.setdefault(tag, {})
        sdt = pick_dtype(r)
        tgt = []
        mapping = {}
        for _ in range(r.randint(1, 4)):
            make_layer(g, g.layer_name(used), src, tgt, mapping, sdt, benign)
        if r.random() < 0.5:
            src["global_step"] = numpy.array(r.randint(0, 1000), dtype=numpy.int64)
        # R-FILE-1: .index / .meta are stripped
        opts = {"filename": tag, "init_for_train": r.random() < 0.93, "suffix": r.choice(["", "", "", ".index", ".meta"])}
        if opts["init_for_train"] and r.random() < 0.05:
            opts["init_for_train"] = "always"
        prefix = ""
        if r.random() < 0.3:
            prefix = r.choice(["main_", "pre_", "x", "sub/", "l", ""])
            opts["prefix"] = prefix
        if r.random() < (0.7 if benign else 0.45):
            opts["ignore_missing"] = True
        ckpt_side = [k for k, _, _ in tgt]
        if ckpt_side and r.random() < 0.2:
            opts["ignore_params"] = r.sample(ckpt_side, r.randint(1, min(2, len(ckpt_side))))
            if r.random() < 0.3:
                opts["ignore_params"].append("nonexistent/W")
        if ckpt_side and r.random() < 0.15:
            k = r.choice(ckpt_side)
            opts["ignore_params_prefixes"] = [k[: r.randint(1, max(1, len(k) - 1))]]
            if r.random() < 0.2:  # a plain string: Python iterates its characters
                opts["ignore_params_prefixes"] = opts["ignore_params_prefixes"][0][:2]
        if ckpt_side and r.random() < 0.1:  # mapping for a present var (R-MAP-1) / a non-var key
            k = r.choice(ckpt_side)
            mapping[k] = r.choice(sorted(src))
        if mapping:
            opts["var_name_mapping"] = mapping
        if not benign and r.random() < 0.05:  # rename-table suffix without a scope (R-REN-9)
            src["lstm_cell/biases"] = g.arr((4,), sdt)
            tgt.append(("lstm_cell/bias", (4,), "float32"))
        if not benign and r.random() < 0.1:  # the graph name does not resolve to a checkpoint key
            tgt.append(("fresh%d/W" % ei, (2,), "float32"))
        for k, shape, dt in tgt:
            name = k
            if prefix:
                if r.random() < 0.85:
                    pos = [0] + [i + 1 for i, ch in enumerate(k) if ch == "/"]
                    p = r.choice(pos)
                    name = k[:p] + prefix + k[p:]
                    if r.random() < 0.06 and len(pos) > 1:
                        # a second graph name with the same checkpoint-side name (later wins)
                        q = r.choice([x for x in pos if x != p])
                        targets.append((k[:q] + prefix + k[q:], shape, dt))
                # else: not handled by this entry (no prefix in the name)
            targets.append((name, shape, dt))
        entries[ek] = opts
    main = None
    if r.random() < 0.35:  # import_model_train_epoch1 (TFNetwork.load_params_from_file)
        src = sources.setdefault("main", {})
        sdt = pick_dtype(r) if r.random() < 0.3 else "float32"
        tgt = []
        for _ in range(r.randint(0, 3)):
            make_layer(g, g.layer_name(used), src, tgt, {}, sdt, benign)
        if benign or r.random() < 0.85:
            src["global_step"] = numpy.array(r.randint(0, 1000), dtype=numpy.int64)
        # the network's other variables, mostly present under their own names
        for name, shape, dt in list(targets):
            if (benign or r.random() < 0.92) and name not in src:
                if not benign and r.random() < 0.03 and shape:
                    shape = tuple(shape[:-1]) + (shape[-1] + 1,)
                src[name] = g.arr(shape, dt if r.random() < (0.97 if benign else 0.9) else pick_dtype(r))
        targets.extend(tgt)
        targets.append(("global_step", (), "int64"))
        main = {"filename": "main", "load_ignore_missing_vars": r.random() < (0.5 if benign else 0.3)}
        g.desc.append("main:imv=%s" % main["load_ignore_missing_vars"])
    # unique graph names (TF would uniquify duplicates); keep the first
    seen = set()
    uniq = []
    for name, shape, dt in targets:
        if name in seen or ":" in name:
            continue
        seen.add(name)
        uniq.append((name, shape, dt))
    r.shuffle(uniq)
    x = r.random()
    target_file = "target.meta" if x < 0.2 else "target_ckpt" if x < 0.35 else "target.json"
    # variables flagged RETURNN_non_critical_for_restore (R-NC; only a JSON target can say so)
    noncrit = set()
    if target_file == "target.json" and r.random() < 0.25:
        noncrit = {n for n, _, _ in uniq if r.random() < 0.3}
        g.desc.append("noncrit=%d" % len(noncrit))
    return g.desc, sources, entries, uniq, main, target_file, noncrit


def directed_cases():
    """Fixed scenarios run before the random ones: TF Saver.restore of the main checkpoint fails
    on the first problem in sorted key order (a missing key -> NotFoundError -> the loader
    fallback, which converts dtypes; a dtype mismatch -> InvalidArgumentError, no fallback)."""
    f32, f64 = numpy.float32, numpy.float64
    out = []

    def case(desc, main_src, targets, imv=False):
        out.append((["directed", desc], {"main": main_src}, {}, targets + [("global_step", (), "int64")], {"filename": "main", "load_ignore_missing_vars": imv}, "target.json", set()))

    gs = numpy.array(7, dtype=numpy.int64)
    lstm_old = {"b/rec/lstm_cell/biases": numpy.arange(8, dtype=f32), "b/rec/lstm_cell/weights": numpy.arange(24, dtype=f32).reshape(3, 8)}
    lstm_tgt = [("b/rec/lstm_cell/bias", (8,), "float32"), ("b/rec/lstm_cell/kernel", (3, 8), "float32")]
    # dtype mismatch sorts before the missing (renamed) keys -> InvalidArgumentError
    case("dtype a < missing b", dict(lstm_old, **{"a/W": numpy.arange(4, dtype=f64) + 0.1, "global_step": gs}), [("a/W", (4,), "float32")] + lstm_tgt)
    # missing (renamed) keys sort before the dtype mismatch -> fallback converts
    case("missing b < dtype z", dict(lstm_old, **{"z/W": numpy.arange(4, dtype=f64) + 0.1, "global_step": gs}), [("z/W", (4,), "float32")] + lstm_tgt)
    # only a dtype mismatch
    case("dtype only", {"a/W": numpy.arange(4, dtype=f64) + 0.1, "global_step": gs}, [("a/W", (4,), "float32")])
    # dtype mismatch with load_ignore_missing_vars (loader directly)
    case("dtype imv", {"a/W": numpy.arange(4, dtype=f64) + 0.1, "global_step": gs}, [("a/W", (4,), "float32")], imv=True)
    # shape mismatch + missing key
    case("shape a + missing b", dict(lstm_old, **{"a/W": numpy.arange(5, dtype=f32), "global_step": gs}), [("a/W", (4,), "float32")] + lstm_tgt)
    # global_step missing only
    case("no global_step", {"a/W": numpy.arange(4, dtype=f32)}, [("a/W", (4,), "float32")])
    case("no global_step imv", {"a/W": numpy.arange(4, dtype=f32)}, [("a/W", (4,), "float32")], imv=True)
    # global_step of another dtype
    case("global_step int32", {"a/W": numpy.arange(4, dtype=f32), "global_step": numpy.array(3, numpy.int32)}, [("a/W", (4,), "float32")])
    # float16 checkpoint into float32 + a renamed key missing
    case("f16 + missing", dict(lstm_old, **{"z/W": numpy.arange(4, dtype=numpy.float16), "global_step": gs}), [("z/W", (4,), "float32")] + lstm_tgt)
    return out


# ---------------------------------------------------------------------------------------------
# Net-dict cases: real TFNetwork construction with SubnetworkLayer load_on_init (top level,
# inside rec units in and out of the loop, nested in subnetworks), as RETURNN's
# test_subnet_load_on_init_rec.

N_IN, N_H = 2, 3


def net_case(seed, idx):
    """(desc, source net dict, target net dict, {tf prefix: entry}, preload entries)."""
    r = random.Random("net/%d/%d" % (seed, idx))
    src_unit = r.choice(["nativelstm2", "standardlstm", "lstm"])
    src = {
        "input": {"class": "linear", "n_out": N_H, "activation": "identity", "from": "data"},
        "lstm0": {"class": "rec", "unit": src_unit, "n_out": N_H, "from": "input"},
        "output": {"class": "linear", "activation": "identity", "n_out": N_IN, "from": "lstm0"},
    }
    shape = r.choice(["top", "rec_loop", "rec_loop", "rec_movable", "rec_noopt", "sub_rec", "rec_sub"])
    in_loop = shape != "top"
    first = "input" if r.random() < 0.8 else "input2"  # input2: not in the source (partial)
    if in_loop:
        cell = {"class": "rnn_cell", "unit": r.choice(["LSTMBlock", "BasicLSTM", "StandardLSTM"]), "n_out": N_H, "from": first}
    else:
        cell = {"class": "rec", "unit": r.choice(["nativelstm2", "standardlstm", "lstmblock"]), "n_out": N_H, "from": first}
    if r.random() < 0.3:
        cell["unit_opts"] = {"forget_bias": 0.0}
    sub = {
        first: {"class": "linear", "n_out": N_H, "activation": "identity", "from": "data"},
        "lstm0": cell,
        "output": {"class": "linear", "activation": "identity", "n_out": N_IN, "from": "lstm0"},
    }
    if r.random() < 0.1:
        sub["output"]["custom_param_importer"] = "ifpossible"
    lo = "@SRC@"
    if r.random() < 0.5:
        lo = {"filename": "@SRC@"}
        if r.random() < 0.6:
            lo["ignore_missing"] = True
    subl = {"class": "subnetwork", "load_on_init": lo, "subnetwork": sub}
    rec_name = r.choice(["dec", "output", "r-1"])
    sub_name = r.choice(["sub", "output", "s"])
    if shape == "top":
        net = {sub_name: dict(subl, **{"from": "data"})}
        if sub_name != "output":
            net["output"] = {"class": "copy", "from": sub_name}
        prefixes = {sub_name + "/": sub_name}
    else:
        movable = shape == "rec_movable"
        unit = {sub_name: dict(subl, **{"from": "data:source" if movable else "prev:output"})}
        if sub_name == "output":
            # the sub layer is the unit's output (RETURNN's test): its n_out is the rec's
            unit[sub_name]["from"] = "data:source"
        else:
            unit["output"] = {"class": "linear", "n_out": N_IN, "from": [sub_name, "data:source"]}
        rec = {"class": "rec", "from": "data", "unit": unit}
        if shape == "rec_noopt":
            rec["optimize_move_layers_out"] = False
        if shape == "rec_sub":
            # the load_on_init layer inside a subnetwork inside the rec unit
            inner = unit.pop(sub_name)
            inner["from"] = "data"
            # (a load_on_init layer named "output" is the subnetwork's output itself: a copy
            # layer of the same name would replace it and copy from itself, a dependency loop)
            inner_net = {sub_name: inner}
            if sub_name != "output":
                inner_net["output"] = {"class": "copy", "from": sub_name}
            unit["o"] = {"class": "subnetwork", "from": inner_from(unit, sub_name), "subnetwork": inner_net}
            if "output" in unit and sub_name != "output":
                unit["output"]["from"] = ["o", "data:source"]
            else:
                unit["output"] = {"class": "linear", "n_out": N_IN, "from": ["o", "data:source"]}
            path_tf = "%s/rec/o/%s/" % (rec_name, sub_name)
            path = "%s/o/%s" % (rec_name, sub_name)
        else:
            path_tf = "%s/rec/%s/" % (rec_name, sub_name)
            path = "%s/%s" % (rec_name, sub_name)
        if shape == "sub_rec":
            inner_net = {rec_name: rec}
            if rec_name != "output":
                inner_net["output"] = {"class": "copy", "from": rec_name}
            net = {"outer": {"class": "subnetwork", "from": "data", "subnetwork": inner_net}, "output": {"class": "copy", "from": "outer"}}
            path_tf = "outer/" + path_tf
            path = "outer/" + path
        else:
            net = {rec_name: rec}
            if rec_name != "output":
                net["output"] = {"class": "copy", "from": rec_name}
        prefixes = {path_tf: path}
    preload = {}
    if r.random() < 0.3:
        preload["a"] = {"filename": "@SRC@", "init_for_train": True, "ignore_missing": True}
    desc = ["net", shape, "src=" + src_unit, "cell=" + str(cell["unit"]), "first=" + first, "lo=" + ("dict" if isinstance(lo, dict) else "str")]
    if isinstance(lo, dict) and lo.get("ignore_missing"):
        desc.append("ignore_missing")
    if preload:
        desc.append("preload")
    if "custom_param_importer" in sub["output"]:
        desc.append("importer")
    return desc, src, net, prefixes, preload


def inner_from(unit, sub_name):
    return "prev:output"


def subst(obj, src):
    if isinstance(obj, dict):
        return {k: subst(v, src) for k, v in obj.items()}
    if isinstance(obj, list):
        return [subst(v, src) for v in obj]
    return src if obj == "@SRC@" else obj


def run_net_case(tf, case_dir, src_net, net, prefixes, preload):
    """Builds the source network, saves it; builds the target network as RETURNN's engine does
    at the first train epoch (construction registers load_on_init; initialize_params; then the
    preload entries, set_as_custom_init + load_now), recording which loader registered what."""
    from returnn.config import Config
    from returnn.tf.network import TFNetwork, CustomCheckpointLoader, have_custom_post_init

    from returnn.tf.util.basic import get_valid_scope_name_from_str

    # the TF scopes of the layer names (R-SUB-4: "r-1" -> "r__1")
    prefixes = {"/".join(get_valid_scope_name_from_str(x) if x else x for x in k.split("/")): v for k, v in prefixes.items()}
    src_file = os.path.join(case_dir, "src")
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        config = Config()
        config.update({"num_inputs": N_IN, "num_outputs": N_IN, "network": src_net})
        network = TFNetwork(config=config, train_flag=True)
        network.construct_from_dict(config.typed_dict["network"])
        network.initialize_params(sess)
        network.save_params_to_file(filename=src_file, session=sess)
    net = subst(net, src_file)
    preload = subst(preload, src_file)
    labels = {}
    logs = {}
    orig_init = CustomCheckpointLoader.__init__
    orig_set = CustomCheckpointLoader.set_as_custom_init

    def init(self, *a, **kw):
        orig_init(self, *a, **kw)
        label = prefixes.get(kw.get("params_prefix", ""), None)
        self._oracle_label = label + ".load_on_init" if label is not None else None
        if self._oracle_label:
            self.reader = ReaderProxy(self.reader, logs.setdefault(self._oracle_label, set()))

    def set_init(self):
        before = {v.name for v in tf.compat.v1.global_variables() if have_custom_post_init(v)}
        orig_set(self)
        if getattr(self, "_oracle_label", None):
            for v in tf.compat.v1.global_variables():
                if have_custom_post_init(v) and v.name not in before:
                    labels[v.name[:-2]] = self._oracle_label

    g = tf.Graph()
    expected = None
    variables = []
    try:
        CustomCheckpointLoader.__init__ = init
        CustomCheckpointLoader.set_as_custom_init = set_init
        with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
            config = Config()
            config.update({"num_inputs": N_IN, "num_outputs": N_IN, "network": net})
            try:
                network = TFNetwork(config=config, train_flag=True)
                network.construct_from_dict(config.typed_dict["network"])
                variables = list(tf.compat.v1.global_variables())
                network.initialize_params(sess)
                for key, opts in sorted(preload.items()):
                    log = logs.setdefault(key, set())
                    before = {v.name for v in variables if have_custom_post_init(v)}
                    loader = CustomCheckpointLoader(
                        filename=opts["filename"], saveable_params=network.get_params_list(),
                        params_prefix="", ignore_missing=opts.get("ignore_missing", False))
                    loader.reader = ReaderProxy(loader.reader, log)
                    loader.set_as_custom_init()
                    vm = loader.get_variable_value_map()
                    for var, value in vm.items():
                        value.assign_var(var=var, session=sess)
                    for v in vm:
                        if v.name not in before:
                            labels[v.name[:-2]] = key
                by_name = {v.name[:-2]: v for v in variables}
                values = sess.run({k: by_name[k] for k in labels if k in by_name})
                expected = {
                    "loaded": {k: {"entry": labels[k], "sha256": sha(values[k])} for k in values},
                    "keys_read": {k: sorted(v) for k, v in logs.items() if any(labels.get(n) == k for n in labels)},
                }
            except Exception as e:  # noqa: BLE001 (we record what RETURNN raises)
                expected = {"error": {"type": type(e).__name__, "message": str(e)[:3000]}}
                variables = variables or list(tf.compat.v1.global_variables())
    finally:
        CustomCheckpointLoader.__init__ = orig_init
        CustomCheckpointLoader.set_as_custom_init = orig_set
    targets = [(v.name[:-2], list(v.shape.as_list()), v.dtype.base_dtype.name) for v in variables]
    entry_files = {e: src_file for e in list(prefixes.values())}
    entry_files = {k + ".load_on_init": v for k, v in entry_files.items()}
    entry_files.update({k: src_file for k in preload})
    return expected, net, preload, targets, entry_files


def sha(a):
    return hashlib.sha256(numpy.ascontiguousarray(a).tobytes()).hexdigest()


class ReaderProxy:
    """Records which keys a loader reads."""

    def __init__(self, reader, log):
        self._reader = reader
        self._log = log

    def get_tensor(self, name):
        v = self._reader.get_tensor(name)
        self._log.add(name)
        return v

    def __getattr__(self, item):
        return getattr(self._reader, item)


def load_params_from_file(tf, CustomCheckpointLoader, have_custom_post_init, sess, filename, saveable, ignore_missing_vars, log):
    """TFNetwork.load_params_from_file (returnn/tf/network.py) for a network without
    custom_param_importer: Saver.restore unless a param has a custom init or
    load_ignore_missing_vars is set; on NotFoundError the CustomCheckpointLoader fallback.
    Returns the names of the variables written."""

    def custom():
        loader = CustomCheckpointLoader(filename=filename, saveable_params=saveable, ignore_missing=ignore_missing_vars)
        loader.reader = ReaderProxy(loader.reader, log)
        # load_now's body, keeping the value map to know what was written
        vm = loader.get_variable_value_map()
        for var, value in vm.items():
            value.assign_var(var=var, session=sess)
        return [v.name[:-2] for v in vm]

    if any(have_custom_post_init(p) for p in saveable) or ignore_missing_vars:
        return custom()
    with tf.name_scope("saver"):
        saver = tf.compat.v1.train.Saver(var_list=saveable, max_to_keep=2**31 - 1)
    try:
        saver.restore(sess=sess, save_path=filename)
    except tf.errors.NotFoundError:
        return custom()  # a failing fallback re-raises NotFoundError
    log.update(v.name[:-2] for v in saveable)
    return [v.name[:-2] for v in saveable]


def run_case(tf, CustomCheckpointLoader, have_custom_post_init, case_dir, sources, entries, targets, main, target_file, noncrit):
    src_graph = tf.Graph()
    with src_graph.as_default():
        with tf.compat.v1.Session(graph=src_graph) as sess:
            for tag, tensors in sorted(sources.items()):
                if not tensors:
                    tensors["unrelated/W"] = numpy.zeros((2,), numpy.float32)
                names = sorted(tensors)
                sess.run(
                    tf.raw_ops.SaveV2(
                        prefix=os.path.join(case_dir, tag),
                        tensor_names=names,
                        shape_and_slices=[""] * len(names),
                        tensors=[tf.constant(tensors[k]) for k in names],
                    )
                )
    graph = tf.Graph()
    with graph.as_default():
        with tf.compat.v1.Session(graph=graph) as sess:
            variables = []
            for name, shape, dt in targets:
                variables.append(
                    tf.compat.v1.get_variable(
                        name,
                        shape=shape,
                        dtype=dt,
                        initializer=tf.compat.v1.zeros_initializer(),
                        trainable=name != "global_step",
                    )
                )
            for v, (name, _, _) in zip(variables, targets):
                assert v.name == name + ":0", (v.name, name)
                if name in noncrit:
                    v.RETURNN_non_critical_for_restore = True
            if target_file.endswith(".meta") or main:
                # as RETURNN's graph: a saver over the saveable params
                if variables:
                    with tf.name_scope("saver"):
                        tf.compat.v1.train.Saver(var_list=variables, max_to_keep=2**31 - 1)
                if target_file.endswith(".meta"):
                    tf.compat.v1.train.export_meta_graph(filename=os.path.join(case_dir, target_file), graph=graph)
                if main:  # RETURNN requires the .meta file of an imported model
                    tf.compat.v1.train.export_meta_graph(
                        filename=os.path.join(case_dir, main["filename"] + ".meta"), graph=graph
                    )
            sess.run(tf.compat.v1.global_variables_initializer())
            if target_file == "target_ckpt":
                if variables:
                    with tf.name_scope("target_saver"):
                        tf.compat.v1.train.Saver(var_list=variables).save(
                            sess, os.path.join(case_dir, target_file), write_meta_graph=False
                        )
                else:
                    target_file = "target.json"
            # the engine's preload uses network.get_params_list(): no global_step
            params = [v for v in variables if v.name != "global_step:0"]
            loaded = {}
            keys_read = {}
            try:
                for key, opts in sorted(entries.items()):
                    if not opts.get("init_for_train", False):
                        continue  # task train: entries for recognition are skipped
                    before = {v.name for v in variables if have_custom_post_init(v)}
                    log = set()
                    loader = CustomCheckpointLoader(
                        filename=os.path.join(case_dir, opts["filename"]) + opts["suffix"],
                        saveable_params=params,
                        params_prefix="",
                        load_if_prefix=opts.get("prefix", ""),
                        ignore_missing=opts.get("ignore_missing", False),
                        ignore_params=opts.get("ignore_params", ()),
                        ignore_params_prefixes=opts.get("ignore_params_prefixes", ()),
                        var_name_mapping=opts.get("var_name_mapping", {}),
                    )
                    loader.reader = ReaderProxy(loader.reader, log)
                    loader.set_as_custom_init()
                    # load_now's body, keeping the value map: a variable can be registered
                    # without a value (non-critical, fast path), then it keeps its value
                    vm = loader.get_variable_value_map()
                    for var, value in vm.items():
                        value.assign_var(var=var, session=sess)
                    keys_read[key] = sorted(log)
                    for v in vm:
                        assert have_custom_post_init(v) and v.name not in before, v
                        loaded[v.name[:-2]] = {"entry": key}
                if main:
                    log = set()
                    written = load_params_from_file(
                        tf,
                        CustomCheckpointLoader,
                        have_custom_post_init,
                        sess,
                        os.path.join(case_dir, main["filename"]),
                        variables,
                        main["load_ignore_missing_vars"],
                        log,
                    )
                    keys_read["load"] = sorted(log)
                    for name in written:
                        assert name not in loaded, name
                        loaded[name] = {"entry": "load"}
            except Exception as e:  # noqa: BLE001 (we record what RETURNN raises)
                return {"error": {"type": type(e).__name__, "message": str(e)[:3000]}}, target_file
            by_name = {v.name[:-2]: v for v in variables}
            values = sess.run({k: by_name[k] for k in loaded})
            for k, info in loaded.items():
                info["sha256"] = sha(values[k])
            return {"loaded": loaded, "keys_read": keys_read}, target_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--net-cases", type=int, default=None, help="net-dict load_on_init cases (default: cases // 5)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    t0 = time.time()
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from returnn.log import log as returnn_log

    returnn_log.initialize(verbosity=[0])
    from returnn.tf.network import CustomCheckpointLoader, have_custom_post_init

    t_import = time.time() - t0
    cases = []
    directed = directed_cases()
    for i in range(len(directed) + args.cases):
        if i < len(directed):
            desc, sources, entries, targets, main, target_file, noncrit = directed[i]
            case_dir = os.path.abspath(os.path.join(args.work, "directed_%02d" % i))
        else:
            desc, sources, entries, targets, main, target_file, noncrit = gen_case(args.seed, i - len(directed))
            case_dir = os.path.abspath(os.path.join(args.work, "case_%04d" % (i - len(directed))))
        os.makedirs(case_dir, exist_ok=True)
        expected, target_file = run_case(
            tf, CustomCheckpointLoader, have_custom_post_init, case_dir, sources, entries, targets, main, target_file, noncrit
        )
        cfg_entries = {}
        for key, opts in entries.items():
            o = dict(opts)
            o["filename"] = os.path.join(case_dir, opts["filename"]) + o.pop("suffix")
            cfg_entries[key] = o
        config = {
            "task": "train",
            "model": os.path.join(case_dir, "out", "model"),
            "num_epochs": 1,
            "preload_from_files": cfg_entries,
        }
        if main:
            config["import_model_train_epoch1"] = os.path.join(case_dir, main["filename"])
            config["load_ignore_missing_vars"] = main["load_ignore_missing_vars"]
        with open(os.path.join(case_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        with open(os.path.join(case_dir, "target.json"), "w") as f:
            json.dump(
                {
                    "variables": [
                        dict({"name": n, "shape": list(s), "dtype": d}, **({"non_critical": True} if n in noncrit else {}))
                        for n, s, d in targets
                    ]
                },
                f,
                indent=1,
            )
        cases.append({"dir": case_dir, "target": target_file, "desc": desc, "expected": expected})
    n_net = args.cases // 5 if args.net_cases is None else args.net_cases
    for i in range(n_net):
        desc, src_net, net, prefixes, preload = net_case(args.seed, i)
        case_dir = os.path.abspath(os.path.join(args.work, "net_%04d" % i))
        os.makedirs(case_dir, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()):
            expected, net, preload, targets, entry_files = run_net_case(tf, case_dir, src_net, net, prefixes, preload)
        config = {"task": "train", "model": os.path.join(case_dir, "out", "model"), "num_epochs": 1, "network": net}
        if preload:
            config["preload_from_files"] = preload
        with open(os.path.join(case_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
        with open(os.path.join(case_dir, "target.json"), "w") as f:
            json.dump({"variables": [{"name": n, "shape": s, "dtype": d} for n, s, d in targets]}, f, indent=1)
        cases.append({"dir": case_dir, "target": "target.json", "desc": desc, "expected": expected, "entry_files": entry_files})
    with open(args.out, "w") as f:
        json.dump({"seed": args.seed, "import_seconds": t_import, "cases": cases}, f, indent=1)
    print(
        "mapping oracle (RETURNN side): %d cases in %.1fs (imports %.1fs)" % (len(cases), time.time() - t0, t_import),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
