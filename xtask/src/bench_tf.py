"""TensorFlow side of `cargo xtask bench` (run with the pinned venv's python).

gen PREFIX GIB SEED      write a V2 bundle with real TF (tf.raw_ops.SaveV2): 64 float32
                         variables [GIB*4096, 1024] and one bfloat16 [1024, 1024]
many PREFIX N            write N small float32 variables (the listing benchmark)
import                   import tensorflow only (the fixed cost in every row below)
list|verify|stats|digest PREFIX
diff A B
avg OUT A B C...
convert PREFIX OUT.safetensors
to_tf PREFIX OUT_PREFIX
st_to_tf IN.safetensors OUT_PREFIX

Each job does what the returnn-ckpt job of the same name does, the way a TF user would write it
(tf.train.load_checkpoint + numpy; tensors one at a time where that is possible).
"""

import hashlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def tf():
    import tensorflow as t

    return t


def names(prefix):
    return sorted(n for n, _ in tf().train.list_variables(prefix))


def save(prefix, tensors):
    t = tf()
    keys = sorted(tensors)
    t.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=keys,
        shape_and_slices=[""] * len(keys),
        tensors=[tensors[k] for k in keys],
    )


def main(argv):
    job = argv[0]
    if job == "import":
        tf()
        return
    import numpy as np

    if job == "gen":
        prefix, gib, seed = argv[1], int(argv[2]), int(argv[3])
        rng = np.random.default_rng(seed)
        t = tf()
        tensors = {}
        for i in range(64):
            a = rng.standard_normal((gib * 4096, 1024), dtype=np.float32)
            tensors[f"layer_{i:02d}/kernel"] = t.constant(a)
            del a
        b = rng.standard_normal((1024, 1024), dtype=np.float32)
        tensors["embed/bf16"] = t.cast(t.constant(b), t.bfloat16)
        save(prefix, tensors)
        return
    if job == "many":
        prefix, n = argv[1], int(argv[2])
        t = tf()
        save(prefix, {f"v{i:05d}/w": t.constant(np.full((4,), i, np.float32)) for i in range(n)})
        return
    if job == "list":
        tf().train.list_variables(argv[1])
        return
    if job in ("verify", "stats", "digest"):
        r = tf().train.load_checkpoint(argv[1])
        for n in names(argv[1]):
            v = r.get_tensor(n)
            if job == "stats":
                x = v.astype(np.float64)
                (x.min(), x.max(), x.mean(), x.std(), np.sqrt(np.mean(x * x)))
            elif job == "digest":
                hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
        return
    if job == "diff":
        ra = tf().train.load_checkpoint(argv[1])
        rb = tf().train.load_checkpoint(argv[2])
        for n in names(argv[1]):
            a = ra.get_tensor(n).astype(np.float64)
            b = rb.get_tensor(n).astype(np.float64)
            (np.count_nonzero(~np.isclose(a, b, rtol=0, atol=0)), np.max(np.abs(a - b)))
        return
    if job == "avg":
        out, inputs = argv[1], argv[2:]
        t = tf()
        readers = [t.train.load_checkpoint(p) for p in inputs]
        result = {}
        for n in names(inputs[0]):
            acc = None
            for r in readers:
                v = r.get_tensor(n)
                acc = v.astype(np.float64) if acc is None else acc + v
            dtype = readers[-1].get_variable_to_dtype_map()[n]
            result[n] = t.cast(t.constant(acc / len(readers)), dtype)
        save(out, result)
        return
    if job == "convert":
        import torch
        from safetensors.torch import save_file

        r = tf().train.load_checkpoint(argv[1])
        out = {}
        for n in names(argv[1]):
            v = r.get_tensor(n)
            if v.dtype.name == "bfloat16":
                out[n] = torch.from_numpy(v.view(np.int16)).view(torch.bfloat16)
            else:
                out[n] = torch.from_numpy(v)
        save_file(out, argv[2])
        return
    if job == "to_tf":
        t = tf()
        r = t.train.load_checkpoint(argv[1])
        save(argv[2], {n: t.constant(r.get_tensor(n)) for n in names(argv[1])})
        return
    if job == "st_to_tf":
        import torch
        from safetensors.torch import load_file

        t = tf()
        out = {}
        for n, v in load_file(argv[1]).items():
            if v.dtype == torch.bfloat16:
                out[n] = t.bitcast(t.constant(v.view(torch.int16).numpy()), t.bfloat16)
            else:
                out[n] = t.constant(v.numpy())
        save(argv[2], out)
        return
    raise SystemExit(f"unknown job {job!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
