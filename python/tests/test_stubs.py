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


def stub_params(fn_node):
    """[(name, kind, default)] of a stub function (default: the literal, or `empty`)."""
    a = fn_node.args
    empty = inspect.Parameter.empty
    pos_defaults = [empty] * (len(a.args) - len(a.defaults)) + [ast.literal_eval(d) for d in a.defaults]
    out = [(x.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, d) for x, d in zip(a.args, pos_defaults)]
    out += [
        (x.arg, inspect.Parameter.KEYWORD_ONLY, empty if d is None else ast.literal_eval(d))
        for x, d in zip(a.kwonlyargs, a.kw_defaults)
    ]
    return out


def real_params(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def stub_functions():
    return [n for n in stub_tree().body if isinstance(n, ast.FunctionDef)]


def test_signatures_match():
    for fn in stub_functions():
        real = getattr(returnn_ckpt, fn.name)
        assert real_params(real) == stub_params(fn), fn.name
    assert inspect.signature(returnn_ckpt.load_checkpoint).parameters["mmap"].default is False
    cls = stub_class("CheckpointReader")
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef) or node.decorator_list or node.name == "__exit__":
            continue
        real = getattr(returnn_ckpt.CheckpointReader, node.name)
        sig = inspect.signature(real)
        assert list(sig.parameters) == params(node), node.name


JOBS = ["inspect", "verify", "convert", "avg", "diff", "resolve", "path", "epochs", "cleanup", "plan", "load", "port"]


def test_every_job_has_a_function_and_a_stub():
    stubbed = {f.name for f in stub_functions()}
    for j in JOBS:
        assert j in stubbed and j in returnn_ckpt.__all__ and callable(getattr(returnn_ckpt, j)), j


def test_job_flags_are_keyword_only():
    """Only the command's positional arguments (and the required --target/--out) are positional."""
    positional = {
        "inspect": ["path"], "verify": ["path"], "convert": ["path", "out"], "avg": ["paths", "out"],
        "diff": ["a", "b"], "resolve": ["config"], "path": ["paths"], "epochs": ["config"],
        "cleanup": ["config"], "plan": ["config", "target"], "load": ["config", "target", "out"],
        "port": ["checkpoint"],
    }
    for j, want in positional.items():
        ps = inspect.signature(getattr(returnn_ckpt, j)).parameters.values()
        assert [p.name for p in ps if p.kind == p.POSITIONAL_OR_KEYWORD] == want, j
        assert all(p.default is not p.empty for p in ps if p.kind == p.KEYWORD_ONLY), j


def test_error_attributes_match():
    cls = stub_class("Error")
    attrs = {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}
    assert attrs == {"kind", "path", "key", "hint", "outcome"}
    for a in attrs:
        assert hasattr(returnn_ckpt.Error, a)


def test_docstrings():
    assert returnn_ckpt.__doc__ and "load_checkpoint" in returnn_ckpt.__doc__
    for obj in (returnn_ckpt.load_checkpoint, returnn_ckpt.CheckpointReader, returnn_ckpt.Error):
        assert obj.__doc__ and len(obj.__doc__) > 40, obj
    for j in JOBS:
        doc = getattr(returnn_ckpt, j).__doc__
        # names the command whose --json document it returns
        assert doc and f"returnn-ckpt {j} " in " ".join(doc.split()), j
    for n in ("get_variable_to_shape_map", "get_variable_to_dtype_map", "has_tensor", "get_tensor", "keys", "close"):
        assert getattr(returnn_ckpt.CheckpointReader, n).__doc__, n
