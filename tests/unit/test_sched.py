"""The sensor's CPU policy: every thread switched, a real-time policy left alone.

Each case runs in a child process, so the test run's own policy is untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json, logging, os, sys, threading
from ringside._sched import set_cpu_policy
logging.basicConfig(stream=sys.stderr, format="%(message)s")
before = sys.argv[1]
if before == "fifo":
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
ready, done = threading.Event(), threading.Event()
tid = []
def worker():
    tid.append(threading.get_native_id()); ready.set(); done.wait()
t = threading.Thread(target=worker); t.start(); ready.wait()
result = set_cpu_policy(sys.argv[2])
late = []
t2 = threading.Thread(target=lambda: late.append(os.sched_getscheduler(0))); t2.start(); t2.join()
out = {"result": result, "main": os.sched_getscheduler(0), "thread": os.sched_getscheduler(tid[0]),
       "late": late[0]}
done.set(); t.join()
print(json.dumps(out))
"""


def run_child(before: str, asked: str) -> tuple[dict[str, object], str]:
    proc = subprocess.run([sys.executable, "-c", CHILD, before, asked], capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.parametrize(("asked", "policy"), [("batch", os.SCHED_BATCH),
                                                ("normal", os.SCHED_OTHER)])
def test_every_thread_gets_the_policy(asked: str, policy: int) -> None:
    out, err = run_child("normal", asked)
    assert out == {"result": asked, "main": policy, "thread": policy, "late": policy}
    assert err == ""


@pytest.mark.skipif(os.geteuid() != 0, reason="setting SCHED_FIFO needs root")
def test_a_real_time_policy_is_left_alone() -> None:
    out, err = run_child("fifo", "batch")
    assert out == {"result": "fifo", "main": os.SCHED_FIFO, "thread": os.SCHED_FIFO,
                   "late": os.SCHED_FIFO}
    assert "runs under fifo; leaving it" in err
