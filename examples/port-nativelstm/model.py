"""The RF module for fixtures/returnn_train_nativelstm, which loads the ported parameters.

The TF network (returnn.config): fw0 = rec NativeLstm2 (9 -> 10), hid = linear tanh
(10 -> 10), output = softmax (10 -> 2). Sub-module names = TF layer names, so the rules in
rules.toml (and `port --suggest`) map fw0/rec/W -> fw0.ff_weight etc.

    import safetensors.torch
    pt = make_pt_module()
    pt.load_state_dict(safetensors.torch.load_file("ported.safetensors"))
    outs = run_pt_module(x)   # x: float32 [batch, time, 9]

`cargo xtask port-oracle` runs exactly this against RETURNN's TF outputs for the fixture.
"""

import returnn.frontend as rf
from returnn.tensor import Dim, Tensor

IN = Dim(9, name="in")
BATCH = Dim(None, name="batch")


class Model(rf.Module):
    def __init__(self):
        super().__init__()
        self.fw0 = rf.LSTM(IN, Dim(10, name="fw0"))
        self.hid = rf.Linear(self.fw0.out_dim, Dim(10, name="hid"))
        self.output = rf.Linear(self.hid.out_dim, Dim(2, name="classes"))

    def __call__(self, x: Tensor, *, time: Dim, batch: Dim):
        fw0, _ = self.fw0(x, state=self.fw0.default_initial_state(batch_dims=[batch]), spatial_dim=time)
        hid = rf.tanh(self.hid(fw0))
        out = rf.softmax(self.output(hid), axis=self.output.out_dim)
        return {"fw0": fw0, "hid": hid, "output": out}


_model = None


def make_pt_module():
    """The RF model as a torch module (RETURNN frontend, torch backend)."""
    global _model
    from returnn.torch.frontend.bridge import rf_module_to_pt_module

    rf.select_backend_torch()
    _model = Model()
    return rf_module_to_pt_module(_model)


def run_pt_module(x_np):
    """Runs the model on x (numpy float32 [batch, time, 9], all sequences full length);
    returns each layer's output as numpy [batch, time, dim]."""
    import torch

    b, t, _ = x_np.shape
    batch = Dim(b, name="batch")
    sizes = Tensor("sizes", dims=[batch], dtype="int32", raw_tensor=torch.full((b,), t, dtype=torch.int32))
    time = Dim(sizes, name="time")
    x = Tensor("x", dims=[batch, time, IN], dtype="float32", raw_tensor=torch.tensor(x_np))
    with torch.no_grad():
        outs = _model(x, time=time, batch=batch)
    return {k: v.copy_transpose([batch, time, v.feature_dim]).raw_tensor.numpy() for k, v in outs.items()}
