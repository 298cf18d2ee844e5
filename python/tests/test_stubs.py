"""The type stubs (returnn_ckpt/__init__.pyi) describe the built module: the same public names,
the same methods and properties of CheckpointReader, the same parameters; docstrings exist."""

import ast
import inspect
from pathlib import Path

import returnn_ckpt

STUB = Path(returnn_ckpt.__file__).with_name("__init__.pyi")


def stub_tree():
    return ast.parse(STUB.read_text())


def public(names):
    return {n for n in names if not n.startswith("_") or n == "__version__"}


def test_stub_is_installed_with_py_typed():
    assert STUB.is_file() and STUB.with_name("py.typed").is_file()


def test_module_names_match():
    tree = stub_tree()
    stub_names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            stub_names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            stub_names.add(node.target.id)
    assert stub_names == public(dir(returnn_ckpt)) - {"annotations"} == set(returnn_ckpt.__all__)


def stub_class(name):
    return next(n for n in stub_tree().body if isinstance(n, ast.ClassDef) and n.name == name)


def test_reader_members_match():
    cls = stub_class("CheckpointReader")
    stub = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    real = {n for n in dir(returnn_ckpt.CheckpointReader) if not n.startswith("_")}
    dunders = {"__iter__", "__contains__", "__len__", "__enter__", "__exit__"}
    assert stub - dunders == real
    for d in dunders:
        assert hasattr(returnn_ckpt.CheckpointReader, d), d
    props = {
        n.name
        for n in cls.body
        if isinstance(n, ast.FunctionDef) and any(getattr(d, "id", None) == "property" for d in n.decorator_list)
    }
    for n in real:
        is_prop = isinstance(inspect.getattr_static(returnn_ckpt.CheckpointReader, n), property) or not callable(
            getattr(returnn_ckpt.CheckpointReader, n)
        )
        assert (n in props) == is_prop, n


def params(fn_node):
    return [a.arg for a in fn_node.args.args]


def test_signatures_match():
    fn = next(n for n in stub_tree().body if isinstance(n, ast.FunctionDef) and n.name == "load_checkpoint")
    assert list(inspect.signature(returnn_ckpt.load_checkpoint).parameters) == params(fn)
    assert inspect.signature(returnn_ckpt.load_checkpoint).parameters["mmap"].default is False
    cls = stub_class("CheckpointReader")
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef) or node.decorator_list or node.name == "__exit__":
            continue
        real = getattr(returnn_ckpt.CheckpointReader, node.name)
        sig = inspect.signature(real)
        assert list(sig.parameters) == params(node), node.name


def test_error_attributes_match():
    cls = stub_class("Error")
    attrs = {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}
    assert attrs == {"kind", "path", "key"}
    for a in attrs:
        assert hasattr(returnn_ckpt.Error, a)


def test_docstrings():
    assert returnn_ckpt.__doc__ and "load_checkpoint" in returnn_ckpt.__doc__
    for obj in (returnn_ckpt.load_checkpoint, returnn_ckpt.CheckpointReader, returnn_ckpt.Error):
        assert obj.__doc__ and len(obj.__doc__) > 40, obj
    for n in ("get_variable_to_shape_map", "get_variable_to_dtype_map", "has_tensor", "get_tensor", "keys", "close"):
        assert getattr(returnn_ckpt.CheckpointReader, n).__doc__, n
