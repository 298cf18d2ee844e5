"""returnn_ckpt against tf.train.load_checkpoint on a TF-written checkpoint of about 1 GiB.

Run by `cargo xtask bench-py [--size-mb M] [--runs N]`, which builds the wheel, installs it
into target/pylib and passes --dir/--pylib. Each measurement is a fresh Python process timing
`import` + the operation (so each side pays its own import), median of --runs runs after one
warm-up run of each (the files are then in the page cache: this measures the readers, not the
disk). Operations: list = load_checkpoint(p).get_variable_to_shape_map(); read = get_tensor of
every tensor. The process wall time (interpreter start-up included) is shown too.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
side, op, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
if side == "tf":
    import tensorflow as tf
    open_ = tf.train.load_checkpoint
else:
    import returnn_ckpt
    open_ = (lambda p: returnn_ckpt.load_checkpoint(p, mmap=True)) if side == "ours-mmap" else returnn_ckpt.load_checkpoint
t_import = time.perf_counter()
r = open_(prefix)
shapes = r.get_variable_to_shape_map()
nbytes = 0
if op == "read":
    for k in shapes:
        nbytes += r.get_tensor(k).nbytes
t1 = time.perf_counter()
print(json.dumps({"total": t1 - t0, "import": t_import - t0, "n": len(shapes), "bytes": nbytes}))
"""


def write_checkpoint(directory, size_mb):
    """A RETURNN-like float32 checkpoint written by TensorFlow's SaveV2 (deterministic)."""
    prefix = os.path.join(directory, f"model_{size_mb}mb")
    stamp = prefix + ".done"
    if os.path.exists(stamp):
        return prefix
    os.makedirs(directory, exist_ok=True)
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(12)
    names, values, total, layer = [], [], 0, 0
    target = size_mb << 20
    while total < target:
        # a conformer-ish block: 4 MiB + 4 MiB feed-forward, 1 MiB attention, small vectors
        for name, shape in [
            (f"enc_{layer:03d}_ff1/W", (512, 2048)),
            (f"enc_{layer:03d}_ff1/b", (2048,)),
            (f"enc_{layer:03d}_ff2/W", (2048, 512)),
            (f"enc_{layer:03d}_att/QKV", (512, 512)),
            (f"enc_{layer:03d}_ln/scale", (512,)),
        ]:
            names.append(name)
            values.append(rng.standard_normal(shape, dtype=np.float32))
            total += values[-1].nbytes
        layer += 1
    names.append("global_step")
    values.append(np.array(1000, dtype=np.int64))
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(v) for v in values],
    )
    with open(stamp, "w") as f:
        f.write(f"{len(names)} tensors, {total} bytes\n")
    return prefix


def run_child(side, op, prefix, pylib):
    env = dict(os.environ, PYTHONPATH=pylib + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, side, op, prefix], env=env, check=True, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["wall"] = wall
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--pylib", required=True)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    prefix = write_checkpoint(a.dir, a.size_mb)
    data = sum(os.path.getsize(os.path.join(a.dir, f)) for f in os.listdir(a.dir) if f.startswith(os.path.basename(prefix) + ".data"))
    print(f"checkpoint: {prefix} ({data / 2**20:.0f} MiB of tensor data), median of {a.runs} fresh processes")
    results = {}
    for op in ("list", "read"):
        for side in ("tf", "ours", "ours-mmap"):
            run_child(side, op, prefix, a.pylib)  # warm-up (page cache, .pyc files)
            rs = [run_child(side, op, prefix, a.pylib) for _ in range(a.runs)]
            if len({(r["n"], r["bytes"]) for r in rs}) != 1:
                raise SystemExit(f"{side} {op}: runs disagree: {rs}")
            med = {k: statistics.median(r[k] for r in rs) for k in ("total", "import", "wall")}
            results[(side, op)] = (med, rs[0])
            print(
                f"  {op:4} {side:10} import+{op} {med['total'] * 1e3:9.1f} ms"
                f" (import {med['import'] * 1e3:7.1f} ms)  process {med['wall'] * 1e3:9.1f} ms"
                f"  {rs[0]['n']} tensors, {rs[0]['bytes'] / 2**20:.0f} MiB"
            )
    if results[("tf", "list")][1]["n"] != results[("ours", "list")][1]["n"]:
        raise SystemExit("the two readers list different numbers of tensors")
    if results[("tf", "read")][1]["bytes"] != results[("ours", "read")][1]["bytes"]:
        raise SystemExit("the two readers read different numbers of bytes")
    for op, want in (("list", 50), ("read", 3)):
        tf_ = results[("tf", op)][0]
        for side in ("ours", "ours-mmap"):
            o = results[(side, op)][0]
            print(
                f"ratio {op:4} tf/{side:9}: {tf_['total'] / o['total']:6.1f}x faster (import+{op}),"
                f" {tf_['wall'] / o['wall']:6.1f}x (whole process); expected >= {want}x"
            )


if __name__ == "__main__":
    main()
