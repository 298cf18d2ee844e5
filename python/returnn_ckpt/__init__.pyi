# Type stubs of returnn_ckpt (the extension module returnn_ckpt._native, re-exported).
# Checked against the built module by python/tests/test_stubs.py.
import os
from types import TracebackType
from typing import Tuple, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Type, Union

import numpy

__version__: str

class Error(Exception):
    """An error of returnn_ckpt (cannot open or read a checkpoint, missing key, ...)."""

    kind: str
    path: Optional[str]
    key: Optional[str]
    hint: Optional[str]
    outcome: str

class CheckpointReader:
    """An open checkpoint: TensorFlow's CheckpointReader methods plus a mapping-like face."""

    @property
    def prefix(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def get_variable_to_shape_map(self) -> Dict[str, List[int]]: ...
    def get_variable_to_dtype_map(self) -> Dict[str, Union[numpy.dtype[Any], str]]: ...
    def has_tensor(self, name: str) -> bool: ...
    def get_tensor(self, name: str) -> Union[numpy.ndarray[Any, Any], numpy.generic, bytes]: ...
    def keys(self) -> List[str]: ...
    def __iter__(self) -> Iterator[str]: ...
    def __contains__(self, key: object) -> bool: ...
    def __len__(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> "CheckpointReader": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

def load_checkpoint(
    path: Union[str, "os.PathLike[str]"], mmap: bool = False
) -> CheckpointReader: ...

_Path = Union[str, "os.PathLike[str]"]
# progress(what, done_bytes, total_bytes)
_Progress = Optional[Callable[[str, int, int], object]]
# a config file, or a dict of config values (sent as a JSON config)
_Config = Union[_Path, Mapping[str, Any]]
# {key: value} for `++key value`, or RETURNN's command line as a list of str
_Overrides = Optional[Union[Mapping[str, Any], Sequence[str]]]

def inspect(
    path: _Path,
    *,
    stats: bool = False,
    tensors: Optional[Sequence[str]] = None,
    digest: bool = False,
    object_names: bool = False,
    all: bool = False,
    mmap: bool = False,
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def verify(path: _Path, *, mmap: bool = False, progress: _Progress = None) -> Dict[str, Any]: ...
def convert(
    path: _Path,
    out: _Path,
    *,
    to: Optional[str] = None,
    epoch: Optional[int] = None,
    step: Optional[int] = None,
    lr_file: Optional[_Path] = None,
    config: Optional[_Config] = None,
    cwd: Optional[_Path] = None,
    strict: bool = False,
    strings: str = "skip",
    include: Optional[Sequence[str]] = None,
    exclude: Optional[Sequence[str]] = None,
    rename: Optional[Sequence[str]] = None,
    no_optimizer: bool = False,
    float8: bool = False,
    force: bool = False,
    skip_unreadable: bool = False,
    allow_empty: bool = False,
    mmap: bool = False,
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def avg(
    paths: Sequence[_Path],
    out: _Path,
    *,
    ignore_missing: bool = False,
    force: bool = False,
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def diff(
    a: _Path,
    b: _Path,
    *,
    atol: float = 0.0,
    rtol: float = 0.0,
    rename: Optional[Sequence[str]] = None,
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def resolve(
    config: _Config, *, overrides: _Overrides = None, cwd: Optional[_Path] = None
) -> Dict[str, Any]: ...
def path(paths: Sequence[_Path], *, cwd: Optional[_Path] = None) -> List[Dict[str, Any]]: ...
def epochs(
    config: _Config,
    *,
    best: Union[None, bool, str] = None,
    plot: Optional[_Path] = None,
    plot_size: Optional[Tuple[int, int]] = None,
    force: bool = False,
    overrides: _Overrides = None,
    cwd: Optional[_Path] = None,
) -> Dict[str, Any]: ...
def cleanup(
    config: _Config,
    *,
    apply: bool = False,
    overrides: _Overrides = None,
    cwd: Optional[_Path] = None,
) -> Dict[str, Any]: ...
def plan(
    config: _Config,
    target: _Path,
    *,
    fresh: bool = False,
    resume: bool = False,
    overrides: _Overrides = None,
    cwd: Optional[_Path] = None,
) -> Dict[str, Any]: ...
def load(
    config: _Config,
    target: _Path,
    out: _Path,
    *,
    fresh: bool = False,
    resume: bool = False,
    force: bool = False,
    overrides: _Overrides = None,
    cwd: Optional[_Path] = None,
    progress: _Progress = None,
) -> Dict[str, Any]: ...
def port(
    checkpoint: _Path,
    *,
    rules: Optional[_Path] = None,
    suggest: bool = False,
    config: Optional[_Config] = None,
    target: Optional[_Path] = None,
    out: Optional[_Path] = None,
    force: bool = False,
    epoch: Optional[int] = None,
    step: Optional[int] = None,
    pt_layout: str = "returnn",
    style: Optional[str] = None,
    cwd: Optional[_Path] = None,
    progress: _Progress = None,
) -> Dict[str, Any]: ...
