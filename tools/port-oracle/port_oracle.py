#!/usr/bin/env python3
"""End-to-end oracle for `port`: real RETURNN (TF net-dict engine) versus the ported RF / torch
model, driven by `cargo xtask port-oracle` (xtask/src/port_oracle.rs).

  gen   --cases N --seed S --work DIR   one directory per case under DIR:
          config.json       a RETURNN JSON config with `network` and `extern_data`
                            (omitted in "no config" cases: the port then infers the kinds)
          model.index/...   the checkpoint RETURNN's network saved (TF Saver)
          case.json         the layer list (kinds, sizes, options) the check step rebuilds
          target.json       the RF / torch model's state dict (names, dtypes, shapes)
          io.npz            the input and every layer's output, computed by RETURNN (TF)
        plus DIR/cases.json. Also the fixture case (fixtures/returnn_train_nativelstm with
        examples/port-nativelstm), whose checkpoint is the fixture's own.
  (xtask then ports every case: rules from `suggest` (network dict + target list), plan,
   values into DIR/<case>/ported.safetensors)
  check --work DIR                      builds each case's RF model (RETURNN frontend on the
        torch backend) or plain torch model, loads ported.safetensors with strict
        load_state_dict, runs the same input and compares every layer's output with TF's:
        max|diff| <= 1e-5 * max(1, max|y_tf|). Writes DIR/results.json.

Layers: linear (activation, bias, use_transposed_weights, batch_norm option), embedding
(linear on sparse input), conv 1-D (groups incl. depthwise, bias) and 2-D, rec with
nativelstm2 / lstm / lstmp / lstmblock (NativeLSTM2 on TF 2), standardlstm / basiclstm
(forget_bias), standardlstm with num_proj (torch nn.LSTM proj_size), CuDNN canonical params and
LSTMBlockFused params (synthesised from a real NativeLSTM / LSTMCell layer: see
`cudnn_canonical` and `block_rename`), batch_norm param_version 0/1/2 with random running
statistics (eval: both sides use them), layer_norm, self_attention (causal or not), and a
subnetwork around a linear layer. Directions 1 and -1.
"""

import argparse
import json
import os
import random
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

B, T = 3, 7
REL_TOL = 1e-5


# ---------------------------------------------------------------------------------------------
# random networks


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def gen_layers(rng, style, no_config):
    """The layer list of one case: a chain, each layer reading the previous one."""
    layers = []
    feat = rng.randint(2, 6)
    first = {"kind": "input", "dim": feat}
    if rng.random() < 0.15 and not no_config:
        vocab = rng.randint(3, 9)
        n = rng.randint(2, 6)
        if n == vocab:
            n += 1
        first = {"kind": "input_sparse", "vocab": vocab}
        layers.append({"kind": "embedding", "vocab": vocab, "n_out": n})
        feat = n
    n_layers = rng.randint(1, 4)
    kinds = ["linear", "linear", "conv1d", "lstm", "lstm", "lstm", "batch_norm", "layer_norm", "self_attention", "sub_linear"]
    for i in range(n_layers):
        k = rng.choice(kinds)
        last = i == n_layers - 1
        if last and rng.random() < 0.15:
            k = "conv2d"
        lay = {"kind": k}
        if k in ("linear", "sub_linear"):
            lay.update(n_in=feat, n_out=rng.randint(1, 6), act=rng.choice([None, "tanh"]), with_bias=rng.random() < 0.8)
            lay["transposed"] = (not no_config) and rng.random() < 0.25
            if k == "linear" and rng.random() < 0.25:
                lay["bn"] = {"param_version": rng.choice([0, 1, 2]), "eps": rng.choice([1e-3, 1e-5])}
            feat = lay["n_out"]
        elif k == "conv1d":
            groups = rng.choice(divisors(feat))
            n_out = groups * rng.randint(1, 3)
            lay.update(n_in=feat, n_out=n_out, k=rng.choice([1, 3, 5]), groups=groups, with_bias=rng.random() < 0.7)
            feat = n_out
        elif k == "conv2d":
            lay.update(n_in=feat, n_out=rng.randint(1, 6), kt=rng.choice([1, 3]), kf=rng.choice([1, 3]), with_bias=rng.random() < 0.7)
            # (RETURNN names the F axis by "dim:F" below: only when the channels differ)
            if rng.random() < 0.6 and lay["n_out"] != feat:
                # a second 2-D conv on the [T, F] x channels output, grouped (or depthwise)
                c = lay["n_out"]
                g = rng.choice(divisors(c))
                layers.append(lay)
                lay = {"kind": "conv2d_g", "f_dim": feat, "n_in": c, "groups": g, "n_out": g * rng.randint(1, 3), "kt": rng.choice([1, 3]), "kf": rng.choice([1, 3]), "with_bias": rng.random() < 0.7}
        elif k == "lstm":
            units = ["nativelstm2", "lstm", "lstmp", "lstmblock", "standardlstm", "basiclstm", "cudnn", "block"]
            unit = rng.choice(units)
            n = rng.randint(2, 5) if unit == "proj" else rng.randint(1, 5)
            lay.update(n_in=feat, n_out=n, unit=unit, direction=rng.choice([1, 1, -1]))
            if unit in ("standardlstm", "basiclstm", "block"):
                fb = None if no_config else rng.choice([None, 0.0, 0.5, 1.0, 2.5])
                lay["forget_bias"] = fb
            if unit == "proj":
                p = rng.randint(1, n - 1)  # torch: proj_size < hidden_size
                lay["proj"] = p
                lay["forget_bias"] = None if no_config else rng.choice([None, 0.0, 1.5])
                feat = p
            else:
                feat = n
        elif k == "batch_norm":
            lay.update(dim=feat, param_version=rng.choice([0, 1, 2]), eps=rng.choice([1e-3, 1e-5, 0.1]))
        elif k == "layer_norm":
            lay.update(dim=feat, eps=rng.choice([1e-6, 1e-3]))
        elif k == "self_attention":
            h = rng.randint(1, 3)
            lay.update(n_in=feat, heads=h, key_total=h * rng.randint(1, 3), n_out=h * rng.randint(1, 3), causal=rng.random() < 0.5)
            feat = lay["n_out"]
        layers.append(lay)
    if style == "torch" and all(lay["kind"] in ("linear", "sub_linear", "embedding") for lay in layers):
        # a square weight fits rf.Linear and nn.Linear alike: with no other layer showing the
        # style, suggest takes RF (documented); keep these torch cases unambiguous
        for lay in layers:
            if lay["kind"] != "embedding" and lay["n_in"] == lay["n_out"]:
                lay["n_out"] += 1
        for a, b in zip(layers, layers[1:]):
            b["n_in"] = a["n_out"]
    for i, lay in enumerate(layers):
        lay["name"] = "sub%d/a%d" % (i, i) if lay["kind"] == "sub_linear" else rng.choice(["l", "enc", "layer_"]) + str(i)
    return first, layers


def net_dict(first, layers):
    """The RETURNN network dict of a layer list."""
    net = {}
    prev = "data:idx" if first["kind"] == "input_sparse" else "data"
    for lay in layers:
        k = lay["kind"]
        name = lay["name"]
        d = None
        if k == "embedding":
            d = {"class": "linear", "from": prev, "n_out": lay["n_out"], "with_bias": False}
        elif k in ("linear", "sub_linear"):
            d = {"class": "linear", "from": prev if k == "linear" else "data", "n_out": lay["n_out"], "activation": lay["act"], "with_bias": lay["with_bias"]}
            if lay["transposed"]:
                d["use_transposed_weights"] = True
            if lay.get("bn"):
                d["batch_norm"] = {"masked_time": False, "param_version": lay["bn"]["param_version"], "epsilon": lay["bn"]["eps"]}
        elif k == "conv1d":
            d = {"class": "conv", "from": prev, "filter_size": (lay["k"],), "padding": "same", "n_out": lay["n_out"], "groups": lay["groups"], "with_bias": lay["with_bias"]}
        elif k == "conv2d":
            d = {"class": "conv", "from": prev, "filter_size": (lay["kt"], lay["kf"]), "padding": "same", "n_out": lay["n_out"], "input_add_feature_dim": True, "with_bias": lay["with_bias"]}
        elif k == "conv2d_g":
            d = {"class": "conv", "from": prev, "filter_size": (lay["kt"], lay["kf"]), "padding": "same", "n_out": lay["n_out"], "groups": lay["groups"], "in_spatial_dims": ["T", "dim:%d" % lay["f_dim"]], "with_bias": lay["with_bias"]}
        elif k == "lstm":
            unit = lay["unit"]
            tf_unit = {"cudnn": "cudnnlstm", "block": "lstmblockfused", "proj": "standardlstm"}.get(unit, unit)
            d = {"class": "rec", "from": prev, "unit": tf_unit, "n_out": lay.get("proj") or lay["n_out"]}
            if lay["direction"] == -1:
                d["direction"] = -1
            uo = {}
            if lay.get("forget_bias") is not None:
                uo["forget_bias"] = lay["forget_bias"]
            if unit == "proj":
                uo["num_proj"] = lay["proj"]
            if uo:
                d["unit_opts"] = uo
        elif k == "batch_norm":
            d = {"class": "batch_norm", "from": prev, "masked_time": False, "param_version": lay["param_version"], "epsilon": lay["eps"]}
        elif k == "layer_norm":
            d = {"class": "layer_norm", "from": prev, "epsilon": lay["eps"]}
        elif k == "self_attention":
            d = {"class": "self_attention", "from": prev, "num_heads": lay["heads"], "total_key_dim": lay["key_total"], "n_out": lay["n_out"], "attention_left_only": lay["causal"]}
        if k == "sub_linear":
            sub, inner = name.split("/")
            net[sub] = {"class": "subnetwork", "from": prev, "subnetwork": {inner: d, "output": {"class": "copy", "from": inner}}}
            prev = sub
        else:
            net[name] = d
            prev = name
    return net


def tf_net_unit(d):
    """What the TF graph is built with (the synthesised CuDNN / LSTMBlockFused layers run as
    NativeLSTM2 / LSTMCell; their checkpoint names are rewritten afterwards)."""
    d = json.loads(json.dumps(d))
    for name, layer in d.items():
        if layer.get("class") == "rec" and layer.get("unit") == "lstmblockfused":
            layer["unit"] = "standardlstm"
    return d


# ---------------------------------------------------------------------------------------------
# gen: RETURNN TF


def tf_setup():
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from returnn.util.basic import BehaviorVersion

    BehaviorVersion.set(16)
    return tf


def run_tf(tf, net, extern, x, seq_lens, layer_names, init_fn, restore=None):
    """Builds the network with RETURNN, sets the parameters (init_fn or restore), runs x and
    returns (per-layer outputs, {var name: value}, session, graph, saver)."""
    from returnn.config import Config
    from returnn.tf.network import TFNetwork

    net = json.loads(json.dumps(net))
    for lname, layer in net.items():
        layer["is_output_layer"] = True
    config = Config({"extern_data": extern, "debug_print_layer_output_template": False})
    g = tf.Graph()
    with g.as_default():
        network = TFNetwork(config=config, train_flag=False)
        network.construct_from_dict(net)
        sess = tf.compat.v1.Session(graph=g)
        variables = tf.compat.v1.global_variables()
        saver = tf.compat.v1.train.Saver(var_list=variables, max_to_keep=None)
        if restore:
            saver.restore(sess, restore)
        else:
            sess.run(tf.compat.v1.variables_initializer(variables))
            for v in variables:
                val = init_fn(v.name[:-2], tuple(v.shape.as_list()), v.dtype.base_dtype.as_numpy_dtype)
                if val is not None:
                    v.load(val, sess)
        key = "idx" if "idx" in extern else "data"
        d = network.extern_data.data[key]
        feed = {d.placeholder: x, d.get_sequence_lengths(): seq_lens}
        if key == "idx":  # the unused dense input, in case a subnetwork's "data" pulls it in
            dd = network.extern_data.data["data"]
            feed[dd.placeholder] = np.zeros((B, T, extern["data"]["dim"]), np.float32)
            feed[dd.get_sequence_lengths()] = seq_lens
        fetch = {}
        for n in layer_names:
            out = network.get_layer(n).output.copy_as_batch_major()
            fetch[n] = out.placeholder
        outs = sess.run(fetch, feed_dict=feed)
        values = {v.name[:-2]: sess.run(v) for v in variables}
    return outs, values, sess, g, saver


def run_tf_proj(tf, lay, x, init_fn):
    """An LSTM with projection (num_units n > num_proj p), run with TF's own LSTMCell under the
    RETURNN rec-layer scope (<layer>/rec/rnn/lstm_cell/...): RETURNN on TF 2 only builds
    num_proj == n_out == num_units, which torch's nn.LSTM (proj_size < hidden_size) cannot hold,
    so the layout with p < n is checked against TF directly."""
    try:
        from tensorflow.python.ops.nn import rnn_cell
    except ImportError:
        from tensorflow.python.ops import rnn_cell
    g = tf.Graph()
    with g.as_default():
        xin = tf.compat.v1.placeholder(tf.float32, [None, None, lay["n_in"]])
        with tf.compat.v1.variable_scope(lay["name"] + "/rec"):
            kw = {} if lay["forget_bias"] is None else {"forget_bias": lay["forget_bias"]}
            cell = rnn_cell.LSTMCell(lay["n_out"], num_proj=lay["proj"], **kw)
            xi = tf.reverse(xin, [1]) if lay["direction"] == -1 else xin
            y, _ = tf.compat.v1.nn.dynamic_rnn(cell, xi, dtype=tf.float32)
            if lay["direction"] == -1:
                y = tf.reverse(y, [1])
        sess = tf.compat.v1.Session(graph=g)
        variables = tf.compat.v1.global_variables()
        sess.run(tf.compat.v1.variables_initializer(variables))
        for v in variables:
            v.load(init_fn(v.name[:-2], tuple(v.shape.as_list()), np.float32), sess)
        out = sess.run(y, feed_dict={xin: x})
        values = {v.name[:-2]: sess.run(v) for v in variables}
    return {lay["name"]: out}, values, sess


def write_checkpoint(tf, prefix, tensors):
    """Writes {name: numpy array} as a TF V2 checkpoint with SaveV2 (names may contain ':')."""
    names = sorted(tensors)
    g = tf.Graph()
    with g.as_default():
        op = tf.raw_ops.SaveV2(
            prefix=prefix,
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=[tf.constant(tensors[n]) for n in names],
        )
        with tf.compat.v1.Session(graph=g) as s:
            s.run(op)


def cudnn_canonical(rng, scope, vals):
    """NativeLSTM W (n_in,4n), W_re (n,4n), b (4n,) [gates j,i,f,o] -> the 16 CuDNN canonical
    tensors (input weights i,f,c,o (n, n_in), sometimes flattened; recurrent weights (n, n);
    input and recurrent biases (n,), the bias split at random). Checked against RETURNN's own
    convert_cudnn_canonical_to_lstm_block below."""
    w, w_re, b = vals[scope + "/rec/W"], vals[scope + "/rec/W_re"], vals[scope + "/rec/b"]
    n = w_re.shape[0]
    blk = {"j": 0, "i": 1, "f": 2, "o": 3}
    out = {}
    for t, gate in enumerate("ifjo"):  # canonical i, f, c(=j), o
        c = slice(blk[gate] * n, (blk[gate] + 1) * n)
        win = np.ascontiguousarray(w[:, c].T)
        out["%s/rec/cudnn/CudnnRNNParamsToCanonical:%d" % (scope, t)] = win.reshape(-1) if rng.random() < 0.5 else win
        out["%s/rec/cudnn/CudnnRNNParamsToCanonical:%d" % (scope, 4 + t)] = np.ascontiguousarray(w_re[:, c].T)
        frac = np.float32(rng.choice([0.0, 0.25, 0.5, 1.0]))
        bin_ = (b[c] * frac).astype(np.float32)
        out["%s/rec/cudnn/CudnnRNNParamsToCanonical:%d" % (scope, 8 + t)] = bin_
        out["%s/rec/cudnn/CudnnRNNParamsToCanonical:%d" % (scope, 12 + t)] = (b[c] - bin_).astype(np.float32)
    # RETURNN's converter must turn them into the LSTMCell layout of the same parameters
    from returnn.tf.layers.rec import RecLayer

    class Reader:
        def get_tensor(self, k):
            return out[k]

    conv = RecLayer.convert_cudnn_canonical_to_lstm_block(Reader(), scope + "/rec/")
    kernel = np.concatenate([w, w_re], axis=0)
    perm = np.concatenate([np.arange(blk[g] * n, (blk[g] + 1) * n) for g in "ijfo"])
    assert np.array_equal(conv[scope + "/rec/lstm_block_wrapper/kernel"], kernel[:, perm])
    assert np.allclose(conv[scope + "/rec/lstm_block_wrapper/bias"], b[perm], rtol=1e-6, atol=1e-7)
    return out


def param_init(rng):
    nrng = np.random.RandomState(rng.randint(0, 2**31 - 1))

    def init(name, shape, dtype):
        if name == "global_step":
            return None
        if name.endswith("variance"):
            return nrng.uniform(0.5, 2.0, size=shape).astype(dtype)
        if name.endswith("mean"):
            return nrng.normal(0, 0.5, size=shape).astype(dtype)
        return nrng.normal(0, 0.6, size=shape).astype(dtype)

    return init


def gen(args):
    tf = tf_setup()
    rng = random.Random(args.seed)
    os.makedirs(args.work, exist_ok=True)
    cases = []
    t0 = time.time()
    for ci in range(args.cases):
        style = rng.choice(["rf", "rf", "torch"])
        no_config = rng.random() < 0.2
        first, layers = gen_layers(rng, style, no_config)
        proj_case = style == "torch" and rng.random() < 0.2
        if proj_case:
            n = rng.randint(2, 5)
            fb = None if no_config else rng.choice([None, 0.0, 1.5])
            first = {"kind": "input", "dim": rng.randint(1, 5)}
            layers = [{"kind": "lstm", "unit": "proj", "name": "lstmp0", "n_in": first["dim"], "n_out": n, "proj": rng.randint(1, n - 1), "forget_bias": fb, "direction": rng.choice([1, -1])}]
        net = net_dict(first, layers)
        extern = {"data": {"dim": first.get("dim", 1)}}
        if first["kind"] == "input_sparse":
            extern = {"data": {"dim": 2}, "idx": {"dim": first["vocab"], "sparse": True, "available_for_inference": True}}
        if first["kind"] == "input_sparse":
            x = np.array([[rng.randrange(first["vocab"]) for _ in range(T)] for _ in range(B)], dtype=np.int32)
        else:
            x = np.random.RandomState(rng.randint(0, 2**31 - 1)).normal(0, 1, size=(B, T, first["dim"])).astype(np.float32)
        seq_lens = np.full((B,), T, dtype=np.int32)
        names = [lay["name"] for lay in layers]
        if proj_case:
            outs, vals, sess = run_tf_proj(tf, layers[0], x, param_init(rng))
        else:
            outs, vals, sess, g, saver = run_tf(tf, tf_net_unit(net), extern, x, seq_lens, names, param_init(rng))
        d = os.path.join(args.work, "case_%04d" % ci)
        os.makedirs(d, exist_ok=True)
        # the checkpoint, with the synthesised CuDNN / LSTMBlockFused names
        tensors = dict(vals)
        for lay in layers:
            s = lay["name"]
            if lay["kind"] == "lstm" and lay["unit"] == "cudnn":
                for k in ("W", "W_re", "b"):
                    tensors.pop("%s/rec/%s" % (s, k))
                tensors.update(cudnn_canonical(rng, s, vals))
            if lay["kind"] == "lstm" and lay["unit"] == "block":
                for k in ("kernel", "bias"):
                    tensors["%s/rec/lstm_block_wrapper/%s" % (s, k)] = tensors.pop("%s/rec/lstm_cell/%s" % (s, k))
        write_checkpoint(tf, os.path.join(d, "model"), tensors)
        sess.close()
        if not no_config:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump({"network": net, "extern_data": extern, "behavior_version": 16}, f, indent=1)
        np.savez(os.path.join(d, "io.npz"), x=x, **{"out:" + n: v for n, v in outs.items()})
        case = {"dir": d, "style": style, "no_config": no_config, "first": first, "layers": layers}
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump(case, f, indent=1)
        cases.append(case)
    # the fixture case
    fx = fixture_case(tf, args)
    if fx:
        cases.append(fx)
    print("port-oracle gen: %d cases in %.1fs" % (len(cases), time.time() - t0), file=sys.stderr)
    # target lists need the RF / torch models
    import torch

    import safetensors.torch

    setup_rf()
    for i, case in enumerate(cases):
        model = build_model(case)
        sd = model.state_dict()
        # the target in the three forms `port --target` reads, used in turn: the state dict
        # saved by torch (.pt), by safetensors, or as a JSON list
        form = ["pt", "safetensors", "json"][i % 3]
        tpath = os.path.join(case["dir"], "target." + form)
        if form == "pt":
            torch.save(sd, tpath)
        elif form == "safetensors":
            safetensors.torch.save_file({k: v.detach().contiguous() for k, v in sd.items()}, tpath)
        else:
            tl = [{"name": k, "dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)} for k, v in sd.items()]
            with open(tpath, "w") as f:
                json.dump({"variables": tl}, f, indent=1)
        case["target"] = tpath
        # the .pt metadata: given explicitly in some cases, else the defaults (RETURNN reads them)
        if i % 4 == 1:
            case["epoch_step"] = [random.Random(i).randint(1, 50), random.Random(-i).randint(0, 10000)]
    with open(os.path.join(args.work, "cases.json"), "w") as f:
        json.dump({"seed": args.seed, "cases": cases}, f, indent=1)


def fixture_case(tf, args):
    """fixtures/returnn_train_nativelstm: the fixture's own checkpoint and network, the
    example rules and RF module of examples/port-nativelstm."""
    root = args.root
    fdir = os.path.join(root, "fixtures/returnn_train_nativelstm")
    if not os.path.isdir(fdir):
        return None
    ns = {}
    text = open(os.path.join(fdir, "returnn.config")).read()
    # only the literal `network = {...}` assignment is needed
    import ast

    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "network":
            ns["network"] = ast.literal_eval(node.value)
    net = ns["network"]
    extern = {"data": {"dim": 9}, "classes": {"dim": 2, "sparse": True}}
    x = np.random.RandomState(args.seed).normal(0, 1, size=(B, T, 9)).astype(np.float32)
    seq_lens = np.full((B,), T, dtype=np.int32)
    names = ["fw0", "hid", "output"]
    outs, _, sess, _, _ = run_tf(tf, net, extern, x, seq_lens, names, None, restore=os.path.join(fdir, "net-model/network.003"))
    sess.close()
    d = os.path.join(args.work, "fixture_nativelstm")
    os.makedirs(d, exist_ok=True)
    np.savez(os.path.join(d, "io.npz"), x=x, **{"out:" + n: v for n, v in outs.items()})
    case = {
        "dir": d,
        "fixture": True,
        "checkpoint": os.path.join(fdir, "net-model/network.003"),
        "config": os.path.join(fdir, "returnn.config"),
        "rules": os.path.join(root, "examples/port-nativelstm/rules.toml"),
        "model_py": os.path.join(root, "examples/port-nativelstm/model.py"),
        "returnn_config": os.path.join(root, "examples/port-nativelstm/forward.config"),
        "layers": [{"name": n} for n in names],
    }
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
    return case


# ---------------------------------------------------------------------------------------------
# check: RF on torch, plain torch


def setup_rf():
    import returnn.frontend as rf

    rf.select_backend_torch()
    rf.init_train_step_run_ctx(train_flag=False)


def set_path(root, path, module, container):
    parts = path.split(".")
    cur = root
    for p in parts[:-1]:
        if not hasattr(cur, p):
            setattr(cur, p, container())
        cur = getattr(cur, p)
    setattr(cur, parts[-1], module)


def get_path(root, path):
    cur = root
    for p in path.split("."):
        cur = getattr(cur, p)
    return cur


class Built:
    """A model (the RF module, or a plain torch module: what a config's `get_model` returns)
    plus the function that runs it on the case input and returns every layer's output as
    numpy."""

    def __init__(self, root, run):
        self.root = root
        self.run = run

    def pt_module(self):
        """The torch module RETURNN's engine makes of `root` (RF modules are wrapped)."""
        import returnn.frontend as rf

        if isinstance(self.root, rf.Module):
            from returnn.torch.frontend.bridge import rf_module_to_pt_module

            return rf_module_to_pt_module(self.root)
        return self.root

    def state_dict(self):
        return self.pt_module().state_dict()


def example_module(case):
    import importlib.util

    spec = importlib.util.spec_from_file_location("port_example_model", case["model_py"])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_model(case):
    if case.get("fixture"):
        mod = example_module(case)
        model = mod.get_model()
        return Built(model, lambda x: mod.forward(model, x))
    if case["style"] == "torch":
        return build_torch(case)
    return build_rf(case)


def build_rf(case):
    import torch
    import returnn.frontend as rf
    from returnn.tensor import Dim, Tensor
    first, layers = case["first"], case["layers"]
    root = rf.Module()
    batch = Dim(B, name="batch")
    steps = []  # (name, fn(x, time) -> (y, time))
    if first["kind"] == "input":
        feat = Dim(first["dim"], name="in")
    else:
        feat = Dim(first["vocab"], name="vocab")
    in_feat = feat
    for lay in layers:
        k, path = lay["kind"], lay["name"].replace("/", ".")
        if k == "embedding":
            out = Dim(lay["n_out"], name=path + "-out")
            m = rf.Embedding(feat, out)
            steps.append((lay["name"], lambda x, t, m=m: (m(x), t)))
            feat = out
        elif k in ("linear", "sub_linear"):
            out = Dim(lay["n_out"], name=path + "-out")
            m = rf.Linear(feat, out, with_bias=lay["with_bias"])
            bn = None
            if lay.get("bn"):
                bn = rf.BatchNorm(out, eps=lay["bn"]["eps"], use_mask=False)
                m.batch_norm = bn

            def f(x, t, m=m, act=lay["act"], bn=bn):
                y = m(x)
                if act == "tanh":
                    y = rf.tanh(y)
                if bn is not None:
                    y = bn(y)
                return y, t

            steps.append((lay["name"], f))
            feat = out
        elif k == "conv1d":
            out = Dim(lay["n_out"], name=path + "-out")
            m = rf.Conv1d(feat, out, filter_size=lay["k"], padding="same", groups=lay["groups"], with_bias=lay["with_bias"])

            def f(x, t, m=m):
                y, t2 = m(x, in_spatial_dim=t)
                return y, t2

            steps.append((lay["name"], f))
            feat = out
        elif k == "conv2d":
            ch = Dim(1, name="ch")
            out = Dim(lay["n_out"], name=path + "-out")
            m = rf.Conv2d(ch, out, filter_size=(lay["kt"], lay["kf"]), padding="same", with_bias=lay["with_bias"])

            def f(x, t, m=m, feat=feat, ch=ch, out=out):
                x = rf.expand_dim(x, ch)
                y, (t2, f2) = m(x, in_spatial_dims=[t, feat])
                return y.copy_transpose([batch, t2, f2, out]), None

            steps.append((lay["name"], f))
            feat = out
        elif k == "conv2d_g":
            out = Dim(lay["n_out"], name=path + "-out")
            m = rf.Conv2d(feat, out, filter_size=(lay["kt"], lay["kf"]), padding="same", groups=lay["groups"], with_bias=lay["with_bias"])

            def f(x, t, m=m, feat=feat, out=out):
                t_in, f_in = [d for d in x.dims if d not in (batch, feat)]
                y, (t2, f2) = m(x, in_spatial_dims=[t_in, f_in])
                return y.copy_transpose([batch, t2, f2, out]), None

            steps.append((lay["name"], f))
        elif k == "lstm":
            out = Dim(lay["n_out"], name=path + "-out")
            m = rf.LSTM(feat, out)

            def f(x, t, m=m, rev=lay["direction"] == -1):
                if rev:
                    x = rf.reverse_sequence(x, axis=t)
                y, _ = m(x, state=m.default_initial_state(batch_dims=[batch]), spatial_dim=t)
                if rev:
                    y = rf.reverse_sequence(y, axis=t)
                return y, t

            steps.append((lay["name"], f))
            feat = out
        elif k == "batch_norm":
            m = rf.BatchNorm(feat, eps=lay["eps"], use_mask=False)
            steps.append((lay["name"], lambda x, t, m=m: (m(x), t)))
        elif k == "layer_norm":
            m = rf.LayerNorm(feat, eps=lay["eps"])
            steps.append((lay["name"], lambda x, t, m=m: (m(x), t)))
        elif k == "self_attention":
            cls = rf.CausalSelfAttention if lay["causal"] else rf.SelfAttention
            vdim = Dim(lay["n_out"], name=path + "-v")
            m = cls(feat, proj_dim=None, key_dim_total=Dim(lay["key_total"], name=path + "-k"), value_dim_total=vdim, num_heads=lay["heads"], with_bias=False, att_dropout=0.0)

            def f(x, t, m=m, causal=lay["causal"]):
                y = m(x, axis=t)
                if causal:
                    y = y[0]
                return y, t

            steps.append((lay["name"], f))
            feat = vdim
        else:
            raise ValueError(k)
        set_path(root, path, m, rf.Module)

    def run(x_np):
        sizes = Tensor("sizes", dims=[batch], dtype="int32", raw_tensor=torch.full((B,), T, dtype=torch.int32))
        time_dim = Dim(sizes, name="time")
        if first["kind"] == "input":
            x = Tensor("x", dims=[batch, time_dim, in_feat], dtype="float32", raw_tensor=torch.tensor(x_np))
        else:
            x = Tensor("x", dims=[batch, time_dim], dtype="int32", sparse_dim=in_feat, raw_tensor=torch.tensor(x_np))
        outs = {}
        t = time_dim
        with torch.no_grad():
            for name, fn in steps:
                x, t2 = fn(x, t)
                if t2 is not None:
                    t = t2
                    y = x.copy_transpose([batch, t] + [d for d in x.dims if d not in (batch, t)])
                else:
                    y = x
                outs[name] = y.raw_tensor.detach().cpu().numpy()
        return outs

    return Built(root, run)


def build_torch(case):
    import torch

    first, layers = case["first"], case["layers"]
    root = torch.nn.Module()
    steps = []
    for lay in layers:
        k, path = lay["kind"], lay["name"].replace("/", ".")
        if k == "embedding":
            m = torch.nn.Embedding(lay["vocab"], lay["n_out"])
            steps.append((lay["name"], m))
        elif k in ("linear", "sub_linear"):
            m = torch.nn.Linear(lay["n_in"], lay["n_out"], bias=lay["with_bias"])
            bn = None
            if lay.get("bn"):
                bn = torch.nn.BatchNorm1d(lay["n_out"], eps=lay["bn"]["eps"])
                m.batch_norm = bn

            def f(x, m=m, act=lay["act"], bn=bn):
                y = torch.nn.functional.linear(x, m.weight, m.bias)
                if act == "tanh":
                    y = torch.tanh(y)
                if bn is not None:
                    y = bn(y.transpose(1, 2)).transpose(1, 2)
                return y

            steps.append((lay["name"], f))
        elif k == "conv1d":
            m = torch.nn.Conv1d(lay["n_in"], lay["n_out"], lay["k"], padding=lay["k"] // 2, groups=lay["groups"], bias=lay["with_bias"])
            steps.append((lay["name"], lambda x, m=m: m(x.transpose(1, 2)).transpose(1, 2)))
        elif k == "conv2d":
            m = torch.nn.Conv2d(1, lay["n_out"], (lay["kt"], lay["kf"]), padding=(lay["kt"] // 2, lay["kf"] // 2), bias=lay["with_bias"])
            steps.append((lay["name"], lambda x, m=m: m(x.unsqueeze(1)).permute(0, 2, 3, 1)))
        elif k == "conv2d_g":
            m = torch.nn.Conv2d(lay["n_in"], lay["n_out"], (lay["kt"], lay["kf"]), padding=(lay["kt"] // 2, lay["kf"] // 2), groups=lay["groups"], bias=lay["with_bias"])
            steps.append((lay["name"], lambda x, m=m: m(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)))
        elif k == "lstm":
            m = torch.nn.LSTM(lay["n_in"], lay["n_out"], batch_first=True, proj_size=lay.get("proj") or 0)

            def f(x, m=m, rev=lay["direction"] == -1):
                if rev:
                    x = x.flip(1)
                y, _ = m(x)
                return y.flip(1) if rev else y

            steps.append((lay["name"], f))
        elif k == "batch_norm":
            m = torch.nn.BatchNorm1d(lay["dim"], eps=lay["eps"])
            steps.append((lay["name"], lambda x, m=m: m(x.transpose(1, 2)).transpose(1, 2)))
        elif k == "layer_norm":
            m = torch.nn.LayerNorm(lay["dim"], eps=lay["eps"])
            steps.append((lay["name"], m))
        elif k == "self_attention":
            tot = 2 * lay["key_total"] + lay["n_out"]
            m = torch.nn.Linear(lay["n_in"], tot, bias=False)

            def f(x, m=m, lay=lay, tot=tot):
                h, kt, v = lay["heads"], lay["key_total"], lay["n_out"]
                qkv = m(x).reshape(x.shape[0], x.shape[1], h, tot // h).transpose(1, 2)  # B,h,T,.
                q, k_, v_ = torch.split(qkv, [kt // h, kt // h, v // h], dim=-1)
                e = (q * (kt // h) ** -0.5) @ k_.transpose(-1, -2)
                if lay["causal"]:
                    mask = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).tril()
                    e = e.masked_fill(~mask, float("-inf"))
                a = torch.softmax(e, dim=-1) @ v_  # B,h,T,dv
                return a.transpose(1, 2).reshape(x.shape[0], x.shape[1], v)

            steps.append((lay["name"], f))
        else:
            raise ValueError(k)
        set_path(root, path, m, torch.nn.Module)
    root.eval()

    def run(x_np):
        x = torch.tensor(x_np)
        if first["kind"] == "input_sparse":
            x = x.long()
        outs = {}
        with torch.no_grad():
            for name, fn in steps:
                x = fn(x)
                outs[name] = x.detach().cpu().numpy()
        return outs

    return Built(root, run)


def check(args):
    """Loads every ported .pt with RETURNN's PyTorch engine (`Engine._load_model`, `load` = the
    file, `get_model` = the case's model) and compares the outputs with TF's."""
    import torch
    from returnn.config import Config
    from returnn.log import log as returnn_log
    from returnn.util.basic import BackendEngine

    returnn_log.initialize(verbosity=[0])
    BackendEngine.select_engine(engine=BackendEngine.Torch)
    from returnn.torch.engine import Engine

    setup_rf()
    engine = Engine(Config({"backend": "torch"}))
    with open(os.path.join(args.work, "cases.json")) as f:
        cases = json.load(f)["cases"]
    results = []
    bad = 0
    t0 = time.time()
    for case in cases:
        d = case["dir"]
        res = {"dir": d, "layers": {}}
        try:
            with open(os.path.join(d, "ported.json")) as f:
                written = json.load(f)["written"]
            pt_path = os.path.join(d, "ported.pt")
            model = build_model(case)
            if case.get("fixture"):
                # the example's own RETURNN config (forward.config: get_model from model.py)
                sys.path.insert(0, os.path.dirname(case["model_py"]))
                try:
                    config = Config()
                    config.load_file(case["returnn_config"])
                finally:
                    sys.path.pop(0)
                config.set("load", pt_path)
            else:
                config = Config({"backend": "torch", "task": "forward", "load": pt_path, "device": "cpu"})
                config.typed_dict["get_model"] = lambda **_kw: model.root
            engine.config = config
            engine.epoch = None
            engine._start_epoch = None
            engine._load_model()
            if case.get("fixture"):
                # the RF model the config's get_model returned, now holding the ported values
                loaded = engine._orig_model
                example = example_module(case)
                model = Built(loaded, lambda x, m=loaded: example.forward(m, x))
            # RETURNN read our metadata: epoch as stored, step - 1 (it undoes the increment)
            if engine.epoch != written["epoch"] or engine.global_train_step != written["step"] - 1:
                raise AssertionError("RETURNN read epoch %s, step %s; written: epoch %s, step %s" % (engine.epoch, engine.global_train_step + 1, written["epoch"], written["step"]))
            # _load_model only prints unexpected keys: the file must hold exactly the module's
            stored = set(torch.load(pt_path, weights_only=True)["model"])
            have = set(engine.get_pt_model().state_dict())
            if stored != have:
                raise AssertionError("keys: extra %s, missing %s" % (sorted(stored - have), sorted(have - stored)))
            engine.get_pt_model().eval()
            io = np.load(os.path.join(d, "io.npz"))
            outs = model.run(io["x"])
            worst = 0.0
            for lay in case["layers"]:
                n = lay["name"]
                want = io["out:" + n]
                got = outs[n]
                if want.shape != got.shape:
                    raise AssertionError("%s: TF output shape %s, ported model %s" % (n, want.shape, got.shape))
                rel = float(np.max(np.abs(want - got))) / max(1.0, float(np.max(np.abs(want))))
                res["layers"][n] = rel
                worst = max(worst, rel)
            res["max_rel"] = worst
            res["ok"] = worst <= REL_TOL
        except Exception as e:  # noqa: BLE001 (reported per case)
            res["ok"] = False
            res["error"] = "%s: %s" % (type(e).__name__, e)
        if not res["ok"]:
            bad += 1
        results.append(res)
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump({"results": results}, f, indent=1)
    print("port-oracle check: %d cases, %d disagree, %.1fs" % (len(results), bad, time.time() - t0), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["gen", "check"])
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", required=True)
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
    args = ap.parse_args()
    if args.step == "gen":
        gen(args)
    else:
        check(args)


if __name__ == "__main__":
    main()
