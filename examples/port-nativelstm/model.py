"""The RF model for fixtures/returnn_train_nativelstm, which loads the ported parameters.

The TF network (returnn.config): fw0 = rec NativeLstm2 (9 -> 10), hid = linear tanh
(10 -> 10), output = softmax (10 -> 2). Sub-module names = TF layer names, so the rules in
rules.toml (and `port --suggest`) map fw0/rec/W -> fw0.ff_weight etc.

RETURNN's PyTorch backend loads the ported checkpoint into it (forward.config):

    backend = "torch"
    load = "native.pt"            # written by `returnn-ckpt port`
    from model import get_model   # this file

`cargo xtask port-oracle` does exactly that (RETURNN's `Engine._load_model` with
forward.config) and compares `forward(model, x)` with the outputs of the fixture network run
by RETURNN's TF backend from the same TF checkpoint.
"""

import returnn.frontend as rf
from returnn.tensor import Dim, Tensor


class Model(rf.Module):
    def __init__(self):
        super().__init__()
        self.in_dim = Dim(9, name="in")
        self.fw0 = rf.LSTM(self.in_dim, Dim(10, name="fw0"))
        self.hid = rf.Linear(self.fw0.out_dim, Dim(10, name="hid"))
        self.output = rf.Linear(self.hid.out_dim, Dim(2, name="classes"))

    def __call__(self, x: Tensor, *, time: Dim, batch: Dim):
        fw0, _ = self.fw0(x, state=self.fw0.default_initial_state(batch_dims=[batch]), spatial_dim=time)
        hid = rf.tanh(self.hid(fw0))
        out = rf.softmax(self.output(hid), axis=self.output.out_dim)
        return {"fw0": fw0, "hid": hid, "output": out}


def get_model(**_kwargs):
    """RETURNN's `get_model` for the PyTorch backend: the RF model (RETURNN wraps it as a torch
    module and loads the checkpoint `load` names into it)."""
    return Model()


def forward(model: Model, x_np):
    """Runs `model` on x (numpy float32 [batch, time, 9], all sequences full length); returns each
    layer's output as numpy [batch, time, dim]."""
    import torch

    b, t, _ = x_np.shape
    batch = Dim(b, name="batch")
    sizes = Tensor("sizes", dims=[batch], dtype="int32", raw_tensor=torch.full((b,), t, dtype=torch.int32))
    time = Dim(sizes, name="time")
    x = Tensor("x", dims=[batch, time, model.in_dim], dtype="float32", raw_tensor=torch.tensor(x_np))
    with torch.no_grad():
        outs = model(x, time=time, batch=batch)
    return {k: v.copy_transpose([batch, time, v.feature_dim]).raw_tensor.numpy() for k, v in outs.items()}
