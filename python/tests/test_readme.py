"""The examples of README.md's section "From Python" and of docs/python.md run as shown: every
```python block of a page in order, in one namespace, in fixtures/returnn_train_nativelstm (the
run directory the examples speak of), and the `python -c` line of the install block from the
repository root."""

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT

RUN_DIR = FIXTURES / "returnn_train_nativelstm"


def section(text, title):
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def blocks(text, lang):
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


PAGES = {
    "README.md": lambda: section((ROOT / "README.md").read_text(), "From Python"),
    "docs/python.md": lambda: (ROOT / "docs" / "python.md").read_text(),
}


@pytest.mark.parametrize("page", list(PAGES))
def test_python_examples_run(page, monkeypatch):
    text = PAGES[page]()
    code = blocks(text, "python")
    assert code, f"{page} has no python example"
    monkeypatch.chdir(RUN_DIR)
    ns = {"__name__": "__example__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for c in code:
            exec(compile(c, f"{page} example", "exec"), ns)
    # the 5-line example lists every variable with its shape and dtype
    assert "output/W [10, 2] float32" in out.getvalue()
    if page == "README.md":
        # the job example reached RETURNN's error
        assert "start_epoch_model_missing negative" in out.getvalue()


def test_install_one_liner_runs():
    sh = blocks(section((ROOT / "README.md").read_text(), "From Python"), "sh")[0]
    line = next(x for x in sh.splitlines() if " -c " in x)
    argv = shlex.split(line)
    code = argv[argv.index("-c") + 1]
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=os.environ.copy())
    assert p.returncode == 0, p.stderr
    assert "'output/W': [10, 2]" in p.stdout
