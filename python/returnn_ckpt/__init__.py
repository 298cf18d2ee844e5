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

The returnn-ckpt jobs are functions returning exactly the dict (for ``path``: the list) of the
command's ``--json`` output, with keyword arguments named like the command's flags:
``inspect``, ``verify``, ``convert``, ``avg``, ``diff``, ``port`` (checkpoints: TF, ``.pt``,
``.safetensors``) and ``resolve``,
``path``, ``epochs``, ``cleanup``, ``plan``, ``load`` (RETURNN configs: ``config`` is a path
or a dict, ``overrides={"load_epoch": 3}`` is ``++load_epoch 3``, ``cwd=DIR`` is ``-C DIR``)::

    returnn_ckpt.resolve("returnn.config", overrides={"load_epoch": 2})["model"]

Every problem is a ``returnn_ckpt.Error`` with ``.kind`` (a stable label, the JSON ``kind``),
``.path``, ``.key``, ``.hint`` and ``.outcome`` (``"negative"``: RETURNN would raise, the
command's exit code 1; ``"failed"``: no answer could be given, exit code 2).
"""

from ._native import (
    CheckpointReader,
    Error,
    __version__,
    avg,
    cleanup,
    convert,
    diff,
    epochs,
    inspect,
    load,
    load_checkpoint,
    path,
    plan,
    port,
    resolve,
    verify,
)

__all__ = [
    "CheckpointReader",
    "Error",
    "__version__",
    "avg",
    "cleanup",
    "convert",
    "diff",
    "epochs",
    "inspect",
    "load",
    "load_checkpoint",
    "path",
    "plan",
    "port",
    "resolve",
    "verify",
]
