#!/usr/bin/env python3
"""Differential oracle for RETURNN's PyTorch-engine model loading (`_load_model`).

Generates seeded random cases, each one directory under --work:

  case_NNNN/returnn.config        a Python RETURNN config (backend torch, task, load /
                                  import_model_train_epoch1 / existing epochs, preload_from_files)
  case_NNNN/target.json           the module's state dict as a target list ({"variables": [...]},
                                  flags non_critical / buffer / aux / tied_to, "module_class")
  case_NNNN/net-model/network.NNN.pt (+ .opt.pt)   epochs of the run's own model
  case_NNNN/src_K.pt / .safetensors                checkpoint files for load / preload entries

The Rust side reads these files itself (the .pt files through its own reader).

Then, in this one process, real RETURNN's torch Engine runs `_load_model()` on every case
(`get_model` returns a torch.nn.Module or an RF module built from the case's spec, every
parameter initialised to a value no file holds), followed by what `init_train_from_config`
does next (the `.opt.pt` of start_epoch - 1). Recorded per case (--out, JSON):

  {"cases": [{"dir", "desc", "expected": {"error": {"type", "message"}} |
     {"params": {name: {"sha256", "init": bool, "frozen": bool, "sources": ["file|k1/k2", ...]}},
      "epoch": engine.epoch}}]}

`sources` lists every file tensor whose value, copied into the parameter as torch does
(`copy_`), gives the final value. `cargo xtask torch-oracle` (xtask/src/torch_oracle.rs)
compares it with returnn-ckpt's plan. Only stdlib, numpy, torch, safetensors and RETURNN.
"""

import argparse
import collections
import functools
import hashlib
import json
import os
import random
import sys
import time

DTYPES = ["float32"] * 8 + ["float64", "float16", "bfloat16"]
NAME_POOL = [
    "enc.lin.weight",
    "enc.lin.bias",
    "enc.ff.weight",
    "enc_out.weight",
    "dec.out.weight",
    "dec.out.bias",
    "lm.emb.weight",
    "lm.out.weight",
    "lm.out.bias",
    "lm_proj.weight",
    "w",
    "scale",
    "x.y.z",
    "e.w",
]


def np_dtype_name(t):
    return str(t.dtype).replace("torch.", "")


def tensor_bytes(t):
    import torch

    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def sha(t):
    return hashlib.sha256(tensor_bytes(t)).hexdigest()


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.counter = 0
        self.desc = []

    def values(self, shape, dtype):
        """Distinct, non-integral values (so casts and sources show), as a torch tensor."""
        import torch

        self.counter += 1
        n = 1
        for d in shape:
            n *= d
        base = self.counter * 37.0 + 0.25
        vals = [base + i * 1.5 + 0.1 * (i % 3) for i in range(n)]
        if self.rng.random() < 0.3:
            vals = [-v for v in vals]
        if dtype in ("float64", "float32") and self.rng.random() < 0.3 and n:
            tricky = [1 + 2**-11 + 2**-40, 1 + 2**-8 + 2**-30, 70000.5, 2**-20, 16777217.0, -(1 + 2**-11)]
            self.rng.shuffle(tricky)
            for i in range(min(n, len(tricky))):
                vals[i] = tricky[i]
        t = torch.tensor(vals, dtype=torch.float64).reshape(shape)
        if dtype.startswith("int"):
            t = torch.round(t * 3)
        return t.to(getattr(torch, dtype))


def gen_module_spec(g):
    """List of dicts: name, shape, dtype, kind (param / buffer / aux / batchnorm), non_critical,
    tied_to; plus whether it is an RF module."""
    rng = g.rng
    rf_mod = rng.random() < 0.35
    names = rng.sample(NAME_POOL, rng.randint(2, 6))
    # a name may not be a module prefix of another ("x" vs "x.y")
    names = [n for n in names if not any(o != n and o.startswith(n + ".") for o in names)]
    spec = []
    for n in names:
        shape = rng.choice([[], [1], [2], [3], [2, 3], [3, 2], [4]])
        dtype = rng.choice(DTYPES) if not rf_mod else rng.choice(["float32"] * 5 + ["float64"])
        kind = "param"
        r = rng.random()
        if not rf_mod and r < 0.12:
            kind = "buffer"
        elif rf_mod and r < 0.15:
            kind = "aux"
        nc = rf_mod and kind != "buffer" and rng.random() < 0.2
        spec.append({"name": n, "shape": shape, "dtype": dtype, "kind": kind, "non_critical": nc, "tied_to": None})
    if len(spec) >= 2 and rng.random() < 0.12:
        a, b = sorted(rng.sample(range(len(spec)), 2))
        if spec[a]["kind"] == "param" and spec[b]["kind"] == "param":
            spec[b]["tied_to"] = spec[a]["name"]
            spec[b]["shape"] = spec[a]["shape"]
            spec[b]["dtype"] = spec[a]["dtype"]
            spec[b]["non_critical"] = False
    bn = not rf_mod and rng.random() < 0.2
    return {"rf": rf_mod, "params": spec, "batchnorm": bn}


def build_module(mspec, init_vals):
    """A fresh module for the spec; every tensor initialised from init_vals[name]."""
    import torch

    if mspec["rf"]:
        import returnn.frontend as rf
        from returnn.tensor import Dim

        class Root(rf.Module):
            pass

        root = Root()
        by_name = {}
        for p in mspec["params"]:
            parts = p["name"].split(".")
            mod = root
            for part in parts[:-1]:
                if not hasattr(mod, part):
                    setattr(mod, part, rf.Module())
                mod = getattr(mod, part)
            if p["tied_to"]:
                setattr(mod, parts[-1], by_name[p["tied_to"]])
                continue
            dims = [Dim(d, name="%s_d%d" % (p["name"], i)) for i, d in enumerate(p["shape"])]
            param = rf.Parameter(
                dims,
                dtype=p["dtype"],
                auxiliary=p["kind"] == "aux",
                non_critical_for_restore=p["non_critical"],
            )
            # set the value directly (RF's `initial` with array values is not reliably distinct)
            with torch.no_grad():
                param.raw_tensor.copy_(init_vals[p["name"]])
            setattr(mod, parts[-1], param)
            by_name[p["name"]] = param
        return root

    class Root(torch.nn.Module):
        pass

    root = Root()
    by_name = {}
    for p in mspec["params"]:
        parts = p["name"].split(".")
        mod = root
        for part in parts[:-1]:
            if not hasattr(mod, part):
                mod.add_module(part, torch.nn.Module())
            mod = getattr(mod, part)
        if p["tied_to"]:
            mod.register_parameter(parts[-1], by_name[p["tied_to"]])
            continue
        val = init_vals[p["name"]].clone()
        if p["kind"] == "buffer":
            mod.register_buffer(parts[-1], val)
        else:
            t = torch.nn.Parameter(val, requires_grad=val.is_floating_point())
            mod.register_parameter(parts[-1], t)
            by_name[p["name"]] = t
    if mspec["batchnorm"]:
        bn = torch.nn.BatchNorm1d(3)
        with torch.no_grad():
            for k, v in bn.state_dict().items():
                v.copy_(init_vals["bn." + k])
        root.add_module("bn", bn)
    return root


def state_names(mspec, init_vals):
    """(name, tensor) of the module's state dict, in order, plus flags."""
    mod = build_module(mspec, init_vals)
    if mspec["rf"]:
        from returnn.torch.frontend.bridge import rf_module_to_pt_module

        rf_names = {n: p for n, p in mod.named_parameters()}
        pt = rf_module_to_pt_module(mod)
    else:
        rf_names = None
        pt = mod
    out = []
    seen = {}
    for name, t in pt.state_dict(keep_vars=True).items():
        parts = name.split(".")
        owner = functools.reduce(getattr, parts[:-1], pt)
        is_buf = parts[-1] in owner._buffers
        entry = {
            "name": name,
            "shape": list(t.shape),
            "dtype": np_dtype_name(t),
            "buffer": bool(is_buf and not isinstance(t, torch_param_class())),
            "aux": bool(is_buf and isinstance(t, torch_param_class())),
            "non_critical": bool(rf_names is not None and name in rf_names and rf_names[name].non_critical_for_restore),
        }
        key = id(t)
        if key in seen:
            entry["tied_to"] = seen[key]
        else:
            seen[key] = name
        out.append(entry)
    return out, type(pt).__name__


def torch_param_class():
    import torch

    return torch.nn.Parameter


def init_values(g, mspec):
    import torch

    vals = {}
    for p in mspec["params"]:
        t = g.values(p["shape"], p["dtype"])
        vals[p["name"]] = -1000 - t.abs() if t.is_floating_point() else t
    if mspec["batchnorm"]:
        vals["bn.weight"] = g.values([3], "float32") - 5000
        vals["bn.bias"] = g.values([3], "float32") - 6000
        vals["bn.running_mean"] = g.values([3], "float32") - 7000
        vals["bn.running_var"] = g.values([3], "float32") + 8000
        vals["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.long)
    return vals


def make_state(g, targets, prefix="", keep=0.85, rename=None):
    """A state dict for the module's keys (with prefix removed from names that have it):
    some keys dropped, some dtype-changed, some shape-changed, scalars as [1], extra keys."""
    import torch

    rng = g.rng
    sd = collections.OrderedDict()
    for t in targets:
        name = t["name"]
        if prefix:
            if not name.startswith(prefix):
                continue
            name = name[len(prefix):]
        if rng.random() > keep:
            continue
        shape = list(t["shape"])
        dtype = t["dtype"]
        r = rng.random()
        if r < 0.012:
            shape = shape + [2]
        elif r < 0.1 and shape == []:
            shape = [1]
        elif r < 0.2 and dtype.startswith("float"):
            dtype = rng.choice(["float64", "float16", "bfloat16", "float32"])
        if dtype.startswith("int") and not t["dtype"].startswith("int"):
            dtype = t["dtype"]
        if rename and name in rename:
            name = rename[name]
        sd[name] = g.values(shape, dtype)
    if rng.random() < 0.3:
        sd["extra.%d" % g.counter] = g.values([2], "float32")
    return sd


def save_file(g, case_dir, fname, sd, fmt, epoch=None):
    """Writes sd as RETURNN .pt ({"model": sd, ...}), flat .pt or safetensors."""
    import torch

    path = os.path.join(case_dir, fname)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if fmt == "safetensors":
        import safetensors.torch

        safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, path)
        return
    if g.rng.random() < 0.6:
        md = collections.OrderedDict()
        md[""] = {"version": 1}
        for k in sd:
            parts = k.split(".")
            for i in range(1, len(parts)):
                md.setdefault(".".join(parts[:i]), {"version": 2 if parts[i - 1] == "bn" else 1})
        sd._metadata = md
    if fmt == "pt_model":
        obj = {"model": sd, "epoch": epoch if epoch is not None else g.rng.choice([0, 1, 3]), "step": 17}
    else:
        obj = sd
    torch.save(obj, path)


def random_pattern(rng, names):
    """A random fnmatch pattern built from a model name (wildcards, sets, ranges, negation)."""
    base = rng.choice(names) if names else "x"
    out = []
    for c in base:
        r = rng.random()
        if r < 0.15:
            out.append("?")
        elif r < 0.25:
            out.append("*")
        elif r < 0.32:
            lo, hi = sorted([c, rng.choice("aelmz.-")])
            out.append("[%s%s-%s]" % (rng.choice(["", "!"]), lo, hi))
        elif r < 0.36:
            out.append("[%s]" % rng.choice(["!", "]", "-", c + "-", "!" + c]))
        else:
            out.append(c)
    if rng.random() < 0.2:
        out = out[: rng.randint(0, len(out))] + ["*"]
    return "".join(out)


def gen_case(seed, idx, work):
    import torch

    rng = random.Random(seed * 1000003 + idx)
    g = Gen(rng)
    case_dir = os.path.abspath(os.path.join(work, "case_%04d" % idx))
    os.makedirs(case_dir, exist_ok=True)
    mspec = gen_module_spec(g)
    init_vals = init_values(g, mspec)
    targets, module_class = state_names(mspec, init_vals)
    config = {"backend": "torch", "model": "net-model/network", "extern_data": {"data": {"dim": 2}}}
    task = rng.choice(["train"] * 5 + ["eval"] * 2 + ["forward"] * 3)
    config["task"] = task
    files = []
    nfile = [0]

    def new_file(prefix="", fmt=None, rename=None, keep=0.85):
        nfile[0] += 1
        fmt = fmt or rng.choice(["pt_model", "pt_model", "safetensors", "pt_flat"])
        ext = ".safetensors" if fmt == "safetensors" else ".pt"
        fname = "src_%d%s" % (nfile[0], ext)
        sd = make_state(g, targets, prefix=prefix, keep=keep, rename=rename)
        save_file(g, case_dir, fname, sd, fmt)
        files.append(fname)
        return fname, fmt

    # main checkpoint: existing epochs, load, import
    r = rng.random()
    if r < 0.3:
        n_ep = rng.randint(1, 3)
        for ep in range(1, n_ep + 1):
            sd = make_state(g, targets, keep=rng.choice([1.0, 1.0, 0.8]))
            fmt = "pt_model"
            save_file(g, case_dir, "net-model/network.%03d.pt" % ep, sd, fmt, epoch=ep)
            if rng.random() < 0.85:
                torch.save({"optimizer": {}, "epoch": ep}, os.path.join(case_dir, "net-model/network.%03d.opt.pt" % ep))
        if task == "eval":
            config["load_epoch"] = rng.randint(1, n_ep)
        elif task == "forward":
            config["load_epoch"] = rng.randint(1, n_ep)
        g.desc.append("existing epochs 1..%d" % n_ep)
    elif r < 0.6:
        f, fmt = new_file(keep=rng.choice([1.0, 1.0, 0.8]))
        config["load"] = f
        if task == "eval" and rng.random() < 0.5:
            config["load_epoch"] = 1
        g.desc.append("load %s (%s)" % (f, fmt))
    elif r < 0.75 and task == "train":
        f, fmt = new_file(fmt=rng.choice(["pt_model", "pt_flat"]), keep=rng.choice([1.0, 0.8]))
        config["import_model_train_epoch1"] = f
        g.desc.append("import %s" % f)
    else:
        if task == "eval" and rng.random() < 0.2:
            config["load_epoch"] = 1  # no such model: RETURNN's selection asserts
        elif task == "eval":
            task = config["task"] = "train"
        g.desc.append("no main checkpoint")
    if "existing" in g.desc[0] and task == "train" and rng.random() < 0.2:
        config["start_epoch"] = rng.randint(1, 3)
    if task == "forward" and "load" not in config and "load_epoch" not in config:
        config["allow_random_model_init"] = True
    # preload entries
    preload = {}
    n_entries = rng.choice([0, 1, 1, 2, 2, 3, 4])
    name_list = [t["name"] for t in targets]
    prefixes = sorted({n.split(".")[0] + "." for n in name_list} | {n[:2] for n in name_list} | {"lm", "enc"})
    for k in range(n_entries):
        key = rng.choice(["a", "b", "c", "lm", "enc", "x%d" % k, "z"])
        if key in preload:
            key = key + str(k)
        o = {}
        r = rng.random()
        if r < 0.12:
            o["filename"] = None
            if rng.random() < 0.6:
                o["pattern"] = rng.choice(["*", "lm.*", "*.bias", "enc*", "?.w", "[a-e]*", "*weight", "[!l]*"]) if rng.random() < 0.5 else random_pattern(rng, name_list)
            elif rng.random() < 0.8:
                o["prefix"] = rng.choice(prefixes + [""])
        else:
            prefix = rng.choice(prefixes) if rng.random() < 0.45 else ""
            rename = None
            if rng.random() < 0.15 and name_list:
                n = rng.choice(name_list)
                if n.startswith(prefix):
                    src_name = "renamed_%d" % k
                    rename = {n[len(prefix):]: src_name}
                    o["var_name_mapping"] = {n: prefix + src_name}
            if rng.random() < 0.05:
                o["var_name_mapping"] = {"whatever": "not_there"}
            f, fmt = new_file(prefix=prefix, rename=rename, keep=rng.choice([1.0, 0.9, 0.7]))
            if rng.random() < 0.04:
                f = "does_not_exist.pt"
            o["filename"] = f
            if prefix or rng.random() < 0.05:
                o["prefix"] = prefix
            if fmt == "safetensors" or fmt == "pt_flat":
                if rng.random() < 0.95:
                    o["checkpoint_key"] = None
            elif rng.random() < 0.1:
                o["checkpoint_key"] = rng.choice([None, "model", "nope", "epoch"])
            if rng.random() < 0.15 and name_list:
                o["ignore_params"] = [rng.choice(name_list)] if rng.random() < 0.8 else rng.choice(name_list)
            if rng.random() < 0.1:
                o["ignore_params_prefixes"] = [rng.choice(prefixes)] if rng.random() < 0.8 else rng.choice(["e", "l", "xyz"])
            if rng.random() < 0.03:
                o["custom_missing_load_func"] = "__LAMBDA__"
            if rng.random() < 0.35:
                o["ignore_missing"] = True
        r = rng.random()
        if r < 0.3:
            o["init_for_train"] = True
        elif r < 0.5:
            o["init_for_train"] = "always"
        elif r < 0.53:
            o["init_for_train"] = rng.choice([1, "yes", False, 0, "", None])
        if rng.random() < 0.02:
            o = {"prefix": "x"}  # no filename: AssertionError
        preload[key] = o
    if preload:
        config["preload_from_files"] = preload
    g.desc.append("task %s, %d entries" % (task, len(preload)))
    with open(os.path.join(case_dir, "returnn.config"), "w") as f:
        f.write("#!rnn.py\n")
        for k, v in config.items():
            f.write(("%s = %r\n" % (k, v)).replace("'__LAMBDA__'", "lambda **_kw: None"))
        f.write("\n\ndef get_model(**_kwargs):\n    raise Exception('replaced by the oracle')\n")
    with open(os.path.join(case_dir, "target.json"), "w") as f:
        json.dump({"module_class": module_class, "variables": targets}, f, indent=1)
    return case_dir, g.desc, mspec, init_vals, targets, files


def file_tensors(case_dir, fname):
    """(path string, tensor) of every tensor in a file, as _torch_load returns it."""
    import torch

    p = os.path.join(case_dir, fname)
    if fname.endswith(".safetensors"):
        import safetensors.torch

        return [(k, v) for k, v in safetensors.torch.load_file(p).items()]
    obj = torch.load(p, map_location="cpu")
    out = []

    def walk(v, path):
        if isinstance(v, torch.Tensor):
            out.append(("/".join(path), v))
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, path + [k])

    walk(obj, [])
    return out


def run_case(engine_cls_state, case_dir, mspec, init_vals, targets, files):
    import torch
    from returnn.config import Config

    e = engine_cls_state
    cwd = os.getcwd()
    os.chdir(case_dir)
    try:
        config = Config()
        config.load_file("returnn.config")
        config.typed_dict["get_model"] = lambda **_kw: build_module(mspec, init_vals)
        task = config.value("task", "train")
        # __main__'s eval rules
        if task == "eval" and not config.value("load", None):
            epoch = config.int("epoch", -1)
            load_epoch = config.int("load_epoch", -1)
            if epoch >= 0:
                config.set("load_epoch", epoch)
        e.config = config
        e.epoch = None
        try:
            e._start_epoch = e.get_train_start_epoch(config) if task in ("train", "eval", "initialize_model") else None
            e._load_model()
            if task in ("train", "eval") and e._start_epoch and e._start_epoch > 1:
                fn = e.epoch_model_filename(config.value("model", None), e._start_epoch - 1, is_pretrain=False)
                torch.load(fn + ".opt.pt", map_location="cpu")
        except Exception as ex:
            return {"error": {"type": type(ex).__name__, "message": str(ex)}}
        model = e._pt_model
        params = {}
        cands = {}
        all_files = list(files)
        if os.path.isdir("net-model"):
            all_files += [os.path.join("net-model", x) for x in sorted(os.listdir("net-model")) if x.endswith(".pt")]
        for fname in all_files:
            if fname.endswith(".opt.pt") or not os.path.exists(fname):
                continue
            cands[fname] = file_tensors(case_dir, fname)
        # the tensor a name holds was initialised from the original entry's (not the alias)
        root_of = {t["name"]: t["name"] for t in targets}
        root_of.update({p["name"]: p["tied_to"] or p["name"] for p in mspec["params"]})
        for t in targets:
            name = t["name"]
            parts = name.split(".")
            owner = functools.reduce(getattr, parts[:-1], model)
            v = getattr(owner, parts[-1])
            h = sha(v)
            iv = init_vals.get(root_of[name])
            init = iv is not None and sha(iv.to(v.dtype)) == h
            srcs = []
            if not init:
                for fname, ts in cands.items():
                    for path, src in ts:
                        s = src
                        if len(v.shape) == 0 and list(s.shape) == [1]:
                            s = s[0]
                        if list(s.shape) != list(v.shape):
                            continue
                        z = torch.empty_like(v.detach())
                        z.copy_(s)
                        if sha(z) == h:
                            srcs.append("%s|%s" % (fname, path))
            params[name] = {
                "sha256": h,
                "init": init,
                "frozen": name in e._ignore_param_set,
                "sources": srcs,
            }
        return {"params": params, "epoch": e.epoch}
    finally:
        os.chdir(cwd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    t0 = time.time()
    import torch  # noqa: F401
    from returnn.config import Config
    from returnn.log import log as returnn_log
    from returnn.util.basic import BackendEngine

    returnn_log.initialize(verbosity=[0])
    BackendEngine.select_engine(engine=BackendEngine.Torch)
    from returnn.torch.engine import Engine

    engine = Engine(Config({"backend": "torch"}))
    t_import = time.time() - t0
    cases = []
    for i in range(args.cases):
        case_dir, desc, mspec, init_vals, targets, files = gen_case(args.seed, i, args.work)
        expected = run_case(engine, case_dir, mspec, init_vals, targets, files)
        cases.append({"dir": case_dir, "desc": desc, "expected": expected})
    with open(args.out, "w") as f:
        json.dump({"seed": args.seed, "import_seconds": t_import, "cases": cases}, f, indent=1)
    print(
        "torch oracle (RETURNN side): %d cases in %.1fs (imports + engine %.1fs)"
        % (len(cases), time.time() - t0, t_import),
        file=sys.stderr,
    )
    os._exit(0)  # the engine's multiprocessing manager would otherwise keep the process


if __name__ == "__main__":
    main()
