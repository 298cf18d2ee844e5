#!/usr/bin/env python3
"""Differential oracle driver for the `.pt` format crate (run by `cargo xtask pt-oracle`).

Two commands, both in one Python process each (torch is imported once):

    pt_oracle.py torch-writes --out DIR --cases N --seed S
        torch writes N random checkpoints DIR/tw_NNNN.pt (every supported dtype, scalars,
        zero-size, slices/transposes/expands of shared storages, tied tensors, Parameters,
        nested RETURNN-like {"model", "epoch", ...} and optimizer dicts, nn.Module state dicts
        with their `_metadata`, plain Python values), some re-packed by Python's zipfile (ZIP64,
        another root folder name), and a few files torch itself refuses (pickle protocol 4, a
        forbidden global). For each file it writes DIR/tw_NNNN.json: what
        `torch.load(f, weights_only=True)` returns, rendered canonically (see `render`), or
        {"refused": "<torch's exception>"}.

    pt_oracle.py torch-reads --dir DIR
        for every DIR/ow_*.pt (written by our writer) renders what
        `torch.load(f, weights_only=True)` and `torch.load(f, weights_only=True, mmap=True)`
        return into DIR/ow_NNNN.torch.json and DIR/ow_NNNN.torch_mmap.json.

The canonical rendering (the Rust side renders our reader's values the same way):
    None -> null; bool -> {"bool": b}; int -> {"int": "<decimal>"};
    float -> {"float": "<IEEE bits as 16 hex digits>"}; complex -> {"complex": [bits, bits]};
    str -> {"str": s}; bytes/bytearray -> {"bytes": hex}; tuple/torch.Size -> {"tuple": [...]};
    list -> {"list": [...]}; set -> {"set": sorted(json of elements)};
    dict -> {"dict": "dict"|"OrderedDict"|"Counter", "items": [[k, v], ...],
             "attrs": [[name, v], ...]};
    tensor -> {"tensor": {"dtype", "shape", "sha256" (C-order little-endian bytes),
               "requires_grad", "parameter", "group"}} where "group" numbers the distinct
               storages in order of first appearance (tensors sharing a storage share it;
               null for an empty storage);
    torch.dtype -> {"dtype": "float32"}; torch.device -> {"device": "cpu"}.
"""

import argparse
import warnings
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np
import torch

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.int16,
          torch.int32, torch.int64, torch.uint8, torch.bool]


def fbits(x):
    return "%016x" % struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    a = t.numpy()
    return a.astype(a.dtype.newbyteorder("<")).tobytes()


class Renderer:
    def __init__(self):
        self.groups = {}

    def tensor(self, t):
        st = t.untyped_storage()
        g = self.groups.setdefault(st.data_ptr(), len(self.groups)) if st.nbytes() else None
        return {"tensor": {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                           "sha256": hashlib.sha256(tensor_bytes(t)).hexdigest(),
                           "requires_grad": bool(t.requires_grad),
                           "parameter": isinstance(t, torch.nn.Parameter), "group": g}}

    def __call__(self, v):
        if v is None:
            return None
        if isinstance(v, bool):
            return {"bool": v}
        if isinstance(v, int):
            return {"int": str(v)}
        if isinstance(v, float):
            return {"float": fbits(v)}
        if isinstance(v, complex):
            return {"complex": [fbits(v.real), fbits(v.imag)]}
        if isinstance(v, str):
            return {"str": v}
        if isinstance(v, (bytes, bytearray)):
            return {"bytes": bytes(v).hex()}
        if isinstance(v, torch.Tensor):
            return self.tensor(v)
        if isinstance(v, tuple):  # also torch.Size
            return {"tuple": [self(x) for x in v]}
        if isinstance(v, list):
            return {"list": [self(x) for x in v]}
        if isinstance(v, (set, frozenset)):
            return {"set": sorted(json.dumps(self(x), sort_keys=True) for x in v)}
        if isinstance(v, dict):
            kind = ("Counter" if isinstance(v, collections.Counter) else
                    "OrderedDict" if isinstance(v, collections.OrderedDict) else "dict")
            items = [[self(k), self(x)] for k, x in v.items()]
            attrs = [[k, self(x)] for k, x in getattr(v, "__dict__", {}).items()]
            return {"dict": kind, "items": items, "attrs": attrs}
        if isinstance(v, torch.dtype):
            return {"dtype": str(v).replace("torch.", "")}
        if isinstance(v, torch.device):
            return {"device": str(v)}
        raise TypeError("cannot render %r" % type(v))


def render(obj):
    return Renderer()(obj)


# ----------------------------------------------------------------------------------------------
# Random checkpoints written by torch


def rand_tensor(rng, dtype=None, shape=None):
    dtype = dtype if dtype is not None else DTYPES[rng.integers(len(DTYPES))]
    if shape is None:
        r = int(rng.integers(0, 4))
        shape = [int(rng.integers(0, 5)) if rng.random() < 0.15 else int(rng.integers(1, 6))
                 for _ in range(r)]
    n = int(np.prod(shape)) if shape else 1
    if dtype == torch.bool:
        return torch.from_numpy(np.asarray(rng.integers(0, 2, size=shape)).astype(bool))
    if dtype.is_floating_point:
        x = torch.from_numpy(np.asarray(rng.normal(size=shape) * 3)).to(dtype)
        if n and rng.random() < 0.3:
            flat = x.view(-1)
            specials = [float("nan"), float("inf"), -float("inf"), -0.0, 0.0]
            flat[int(rng.integers(n))] = specials[int(rng.integers(len(specials)))]
        return x
    info = torch.iinfo(dtype)
    return torch.from_numpy(np.asarray(rng.integers(info.min, info.max, size=shape,
                                                    endpoint=True, dtype=np.int64))).to(dtype)


def views_of(rng, base):
    """Random views of `base` (same storage)."""
    out = []
    if base.dim() >= 2 and rng.random() < 0.7:
        out.append(base.t() if base.dim() == 2 else base.transpose(0, base.dim() - 1))
    if base.dim() >= 1 and base.shape[0] > 1:
        a = int(rng.integers(0, base.shape[0]))
        out.append(base[a:])
        if base.shape[0] > 2:
            out.append(base[::2])
    if base.dim() >= 1 and base.numel() > 0 and rng.random() < 0.3:
        out.append(base[0:1].expand(3, *base.shape[1:]))
    if base.numel() > 0 and rng.random() < 0.3:
        out.append(base.reshape(-1)[-1])  # a 0-dim view at an offset
    out.append(base)  # tied: the very same tensor again
    return out


def rand_plain(rng, depth=0):
    k = int(rng.integers(0, 12 if depth < 3 else 8))
    if k == 0:
        return None
    if k == 1:
        return bool(rng.integers(2))
    if k == 2:
        return int(rng.integers(-2**40, 2**40)) if rng.random() < 0.5 else int(rng.integers(0, 300))
    if k == 3:
        return [2**70, -2**64 - 1, 2**63 - 1, -2**63][int(rng.integers(4))]
    if k == 4:
        return float(rng.normal()) if rng.random() < 0.7 else [float("nan"), -0.0, 1e308][
            int(rng.integers(3))]
    if k == 5:
        return "".join(rng.choice(list("abcé€😀_. /"), size=int(rng.integers(0, 8))))
    if k == 6:
        return bytes(rng.integers(0, 256, size=int(rng.integers(0, 6)), dtype=np.uint8))
    if k == 7:
        return complex(float(rng.normal()), float(rng.normal()))
    if k == 8:
        return tuple(rand_plain(rng, depth + 1) for _ in range(int(rng.integers(0, 5))))
    if k == 9:
        return [rand_plain(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    if k == 10:
        return {"k%d" % i: rand_plain(rng, depth + 1) for i in range(int(rng.integers(0, 3)))}
    return [torch.float32, torch.device("cpu"), {1, 2, 3}, torch.Size([2, 3])][
        int(rng.integers(4))]


def rand_state_dict(rng):
    sd = collections.OrderedDict()
    n = int(rng.integers(0, 7))
    for i in range(n):
        base = rand_tensor(rng)
        if rng.random() < 0.35:
            for j, v in enumerate(views_of(rng, base)):
                sd["layer%d.view%d" % (i, j)] = v
        else:
            sd["layer%d.weight" % i] = base
    if rng.random() < 0.2:
        sd["param"] = torch.nn.Parameter(rand_tensor(rng, torch.float32), requires_grad=bool(
            rng.integers(2)))
    return sd


def module_state_dict(rng):
    mods = [torch.nn.Linear(int(rng.integers(1, 5)), int(rng.integers(1, 5))),
            torch.nn.LayerNorm(int(rng.integers(1, 5))), torch.nn.BatchNorm1d(3),
            torch.nn.LSTM(3, 2), torch.nn.Embedding(4, 2), torch.nn.Conv1d(2, 3, 2)]
    seq = torch.nn.Sequential(*[mods[int(i)] for i in rng.permutation(len(mods))[:3]])
    if rng.random() < 0.5:
        with torch.no_grad():
            for p in seq.parameters():
                p.mul_(float(rng.normal()))
    if isinstance(seq[0], torch.nn.Linear) and rng.random() < 0.5:
        seq.extra = torch.nn.Linear(seq[0].in_features, seq[0].out_features)
        seq.extra.weight = seq[0].weight  # tied
    return seq.state_dict()


def rand_case(rng):
    kind = int(rng.integers(0, 6))
    if kind == 0:
        return rand_state_dict(rng)
    if kind == 1:  # RETURNN's model file
        return {"model": module_state_dict(rng) if rng.random() < 0.5 else rand_state_dict(rng),
                "epoch": int(rng.integers(1, 200)), "step": int(rng.integers(0, 10**6)),
                "effective_learning_rate": None if rng.random() < 0.3 else float(rng.random()),
                "returnn_version": "1.%d" % int(rng.integers(10**8))}
    if kind == 2:  # RETURNN's optimizer file
        m = torch.nn.Linear(3, 2)
        opt = [torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD][int(rng.integers(3))](
            m.parameters(), lr=0.01)
        for _ in range(int(rng.integers(0, 3))):
            m(torch.randn(4, 3)).sum().backward()
            opt.step()
        return {"optimizer": opt.state_dict(), "optimizer_class_name": type(opt).__name__,
                "optimizer_opts": {"lr": 0.01, "betas": (0.9, 0.999)},
                "param_names": [n for n, _ in m.named_parameters()],
                "epoch": 3, "step": 12, "effective_learning_rate": 0.01,
                "returnn_version": "1.20261022"}
    if kind == 3:
        return module_state_dict(rng)
    if kind == 4:
        return {"plain": rand_plain(rng), "t": rand_tensor(rng), "more": rand_plain(rng),
                "nested": {"a": [rand_tensor(rng), (rand_tensor(rng), rand_plain(rng))]}}
    sd = rand_state_dict(rng)
    return {"model": sd, "epoch": 1, "step": 0}


def repack(src, dst, rng):
    """Re-writes a torch archive with Python's zipfile: ZIP64 records, another root name."""
    zin = zipfile.ZipFile(src)
    root = "other_root_%d" % int(rng.integers(100))
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            name = root + "/" + info.filename.split("/", 1)[1]
            with zout.open(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), "w",
                           force_zip64=True) as f:
                f.write(zin.read(info.filename))


class Evil:
    def __reduce__(self):
        return (os.system, ("true",))


def refusal(e):
    """The informative line of torch's exception text."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [""]
    for i, ln in enumerate(lines):
        if "WeightsUnpickler error" in ln:
            return "%s: %s" % (type(e).__name__, " ".join(lines[i:i + 2])[:300])
    return "%s: %s" % (type(e).__name__, lines[0][:300])


def load_and_render(path, **kw):
    try:
        obj = torch.load(path, weights_only=True, **kw)
    except Exception as e:  # noqa: BLE001 (any refusal is the answer)
        return {"refused": refusal(e)}
    return {"value": render(obj)}


def torch_writes(out, cases, seed):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    for i in range(cases):
        p = os.path.join(out, "tw_%04d.pt" % i)
        r = rng.random()
        if i % 17 == 16:
            # files torch refuses
            if rng.random() < 0.5:
                torch.save({"w": torch.ones(2)}, p, pickle_protocol=4)
            else:
                buf = io.BytesIO()
                torch.save({"w": torch.ones(2)}, buf)
                z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
                with zipfile.ZipFile(p, "w") as zo:
                    for info in z.infolist():
                        data = z.read(info.filename)
                        if info.filename.endswith("data.pkl"):
                            data = pickle.dumps({"w": Evil()}, protocol=2)
                        zo.writestr(info.filename, data)
        else:
            obj = rand_case(rng)
            if r < 0.15:
                tmp = p + ".orig"
                torch.save(obj, tmp)
                repack(tmp, p, rng)
                os.remove(tmp)
            else:
                torch.save(obj, p, _disable_byteorder_record=bool(rng.random() < 0.2))
        with open(p[:-3] + ".json", "w") as f:
            json.dump(load_and_render(p), f, sort_keys=True)
    return 0


def torch_reads(d):
    names = sorted(f for f in os.listdir(d) if f.startswith("ow_") and f.endswith(".pt"))
    for n in names:
        p = os.path.join(d, n)
        for suffix, kw in ((".torch.json", {}), (".torch_mmap.json", {"mmap": True})):
            res = load_and_render(p, **kw)
            with open(p[:-3] + suffix, "w") as f:
                json.dump(res, f, sort_keys=True)
    print("[pt-oracle] torch read %d files written by torch-pt" % len(names), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("torch-writes")
    w.add_argument("--out", required=True)
    w.add_argument("--cases", type=int, default=100)
    w.add_argument("--seed", type=int, default=1)
    r = sub.add_parser("torch-reads")
    r.add_argument("--dir", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    if a.cmd == "torch-writes":
        return torch_writes(a.out, a.cases, a.seed)
    return torch_reads(a.dir)


if __name__ == "__main__":
    sys.exit(main())
