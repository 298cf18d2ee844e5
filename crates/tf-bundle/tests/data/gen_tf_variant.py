#!/usr/bin/env python3
"""Writes tf_variant/: a tiny V2 bundle holding DT_VARIANT tensors, written by real TensorFlow
(as TF's tensor_bundle_test.cc `VariantTensors` does), and tf_variant/expected.json with what
TF's reader says about it.

Run from the repository root with the pinned venv:
  target/fixtures-venv/bin/python crates/tf-bundle/tests/data/gen_tf_variant.py
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_variant")
os.makedirs(out, exist_ok=True)
prefix = os.path.join(out, "variant")
lst = tf.raw_ops.TensorListFromTensor(
    tensor=tf.constant([[1.0, 2.0], [3.0, 4.0]]), element_shape=tf.constant([2])
)
empty = tf.raw_ops.EmptyTensorList(
    element_shape=tf.constant([-1], tf.int32), max_num_elements=-1, element_dtype=tf.int32
)
vec = tf.raw_ops.Pack(values=[lst, empty])
names = ["a_float", "list", "vec_of_lists", "z_empty_list"]
tensors = [tf.constant([1.5, 2.5]), lst, vec, empty]
tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)
r = tf.train.load_checkpoint(prefix)
dtypes = r.get_variable_to_dtype_map()
shapes = r.get_variable_to_shape_map()
restored = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=["list"], shape_and_slices=[""], dtypes=[tf.variant])[0]
stacked = tf.raw_ops.TensorListStack(input_handle=restored, element_dtype=tf.float32, element_shape=[2])
expected = {
    "generator": "crates/tf-bundle/tests/data/gen_tf_variant.py",
    "tensorflow": tf.__version__,
    "tensors": {n: {"dtype": dtypes[n].name, "shape": list(shapes[n])} for n in sorted(dtypes)},
    "restored_list_stack": stacked.numpy().tolist(),
}
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
