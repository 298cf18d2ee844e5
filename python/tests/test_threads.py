"""get_tensor and the job functions release the GIL: two threads reading two checkpoints are
inside their reads (or jobs) at the same time.

The proof does not depend on timing: the switch interval is set to 60 s, so a thread holding
the GIL keeps it until it blocks. If get_tensor held the GIL, each thread's reads would run
back to back without the other thread executing a single bytecode in between, and no two read
intervals (timestamps taken right before and after each call) could overlap. The same harness
with a GIL-holding pure-Python workload shows exactly that (the control), so the overlap seen
with get_tensor can only come from the GIL being released inside the call."""

import sys
import threading
import time

import numpy as np
import pytest

import returnn_ckpt

MIB = 1 << 20


@pytest.fixture(scope="module")
def two_checkpoints(tf, tmp_path_factory):
    d = tmp_path_factory.mktemp("threads")
    out = []
    for c in range(2):
        prefix = str(d / f"ckpt{c}")
        names = [f"t{i}" for i in range(4)]
        values = [tf.fill([8 * MIB], float(c * 10 + i)) for i in range(4)]  # 32 MiB each
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * 4, tensors=values)
        out.append(prefix)
    return out


def run_two(work_a, work_b, rounds=4):
    """Runs work_a / work_b `rounds` times in two threads; returns each thread's intervals."""
    barrier = threading.Barrier(2)
    intervals = {0: [], 1: []}
    errors = []

    def body(i, work):
        try:
            barrier.wait()
            for _ in range(rounds):
                t0 = time.perf_counter()
                work()
                t1 = time.perf_counter()
                intervals[i].append((t0, t1))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(60.0)
    try:
        ts = [threading.Thread(target=body, args=(0, work_a)), threading.Thread(target=body, args=(1, work_b))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    return intervals


def overlaps(iv):
    return any(a0 < b1 and b0 < a1 for a0, a1 in iv[0] for b0, b1 in iv[1])


def test_control_gil_holding_work_never_overlaps():
    def spin():
        x = 0
        for i in range(300_000):
            x += i
        return x

    assert not overlaps(run_two(spin, spin))


def test_two_threads_read_two_checkpoints_in_parallel(two_checkpoints):
    readers = [returnn_ckpt.load_checkpoint(p) for p in two_checkpoints]
    got = {0: [], 1: []}

    def work(i):
        def read():
            got[i].append(float(readers[i].get_tensor(f"t{len(got[i]) % 4}")[-1]))

        return read

    iv = run_two(work(0), work(1))
    assert got == {0: [0.0, 1.0, 2.0, 3.0], 1: [10.0, 11.0, 12.0, 13.0]}
    assert overlaps(iv), iv


def test_two_threads_run_jobs_in_parallel(two_checkpoints):
    a, b = two_checkpoints
    results = []

    def job(p):
        def run():
            results.append(returnn_ckpt.verify(p)["ok"])
            results.append(returnn_ckpt.inspect(p, digest=True)["tensors"][0]["name"])

        return run

    iv = run_two(job(a), job(b))
    assert results.count(True) == 8 and results.count("t0") == 8
    assert overlaps(iv), iv


def test_one_reader_shared_by_threads(two_checkpoints):
    r = returnn_ckpt.load_checkpoint(two_checkpoints[0], mmap=True)
    out = [None] * 8

    def read(i):
        out[i] = r.get_tensor(f"t{i % 4}")

    ts = [threading.Thread(target=read, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for i, a in enumerate(out):
        assert a.shape == (8 * MIB,) and a[0] == a[-1] == float(i % 4)
    assert np.shares_memory(out[0], out[4])
