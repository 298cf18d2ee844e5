#!/usr/bin/env python3
"""TensorFlow's reading of checkpoints, for `cargo xtask wild`.

Usage: python tf_read.py CASES_TXT BASE_DIR OUT_JSON

For every `NAME PATH` line of CASES_TXT (PATH relative to BASE_DIR) opens
`tf.train.load_checkpoint(PATH)` and records every listed tensor: TF's dtype name, shape and
the sha256 of its value (the manifest digests of fixtures/gen/fixturelib.py: raw little-endian
bytes for numbers, length-prefixed elements for strings), or the error `get_tensor` raises.
A checkpoint TF cannot open records the error. Writes {"cases": [...]} to OUT_JSON.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "fixtures", "gen"))
import fixturelib as fl  # noqa: E402
import tensorflow as tf  # noqa: E402


def main():
    cases_txt, base, out = sys.argv[1:4]
    cases = []
    for line in open(cases_txt):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, path = line.split(None, 1)
        full = os.path.join(base, path)
        case = {"name": name, "path": path}
        try:
            r = tf.train.load_checkpoint(full)
            dtypes = r.get_variable_to_dtype_map()
            shapes = r.get_variable_to_shape_map()
        except Exception as e:  # noqa: BLE001 (recorded: the reader must fail too)
            case["error"] = "%s: %s" % (type(e).__name__, str(e)[:300])
            cases.append(case)
            continue
        tensors = {}
        for t in sorted(dtypes):
            d = dtypes[t].name
            item = {"dtype": d, "shape": list(shapes[t])}
            if d != "variant":
                try:
                    v = r.get_tensor(t)
                    item["sha256"] = fl.value_fields(d, v, shapes[t])["sha256"]
                except Exception as e:  # noqa: BLE001
                    item["error"] = "%s: %s" % (type(e).__name__, str(e)[:200])
            tensors[t] = item
        case["tensors"] = tensors
        cases.append(case)
    with open(out, "w") as f:
        json.dump({"tensorflow": tf.__version__, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
