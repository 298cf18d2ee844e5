"""Read RETURNN / TensorFlow checkpoints without TensorFlow.

``returnn_ckpt.load_checkpoint(path)`` is a drop-in for ``tf.train.load_checkpoint(path)``: it
returns a reader with TensorFlow's ``CheckpointReader`` methods (``get_variable_to_shape_map``,
``get_variable_to_dtype_map``, ``has_tensor``, ``get_tensor``) whose tensors are numpy arrays
equal to TensorFlow's, element for element and dtype for dtype::

    import returnn_ckpt
    with returnn_ckpt.load_checkpoint("net-model/network.003") as r:
        for name, shape in sorted(r.get_variable_to_shape_map().items()):
            print(name, shape)
        w = r.get_tensor("output/W")

Every problem with a file is a ``returnn_ckpt.Error`` with ``.kind`` (a stable label),
``.path`` and ``.key``. The returnn-ckpt jobs are functions returning the dict of the
command's ``--json`` output (``returnn_ckpt.diff(a, b, atol=0.0, rtol=0.0)`` so far).
"""

from ._native import CheckpointReader, Error, __version__, diff, load_checkpoint

__all__ = ["CheckpointReader", "Error", "__version__", "diff", "load_checkpoint"]
