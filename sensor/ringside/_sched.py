"""How the sensor asks the CPU scheduler to treat it.

The sensor wakes every few milliseconds to drain the ring, works for a
fraction of a millisecond, and sleeps again.  As an ordinary task, each of
those wakeups may preempt whatever the machine is running on that CPU: the
workload waits while the sensor works, although the sensor's events could
just as well wait (they sit in the ring, 16 MiB of it by default).

``SCHED_BATCH`` says exactly that.  A batch task keeps its nice level and
its fair share of CPU time, so a busy machine does not starve it any more
than before, but its wakeups do not preempt running tasks: it gets the CPU
when the CPU is free or at the next scheduler tick.

Measured here on an exec storm, the sensor running against the same sensor
stopped with SIGSTOP, so that only its user space differs (mean slowdown ±
standard error), in three runs: the first by the scratch script that became
``python -m benchmarks.exec_split``, the other two by it:

    ordinary task   2.6 % ± 0.4 (24 pairs)   1.3 % ± 0.5 (10)   1.8 % ± 0.4 (16)
    batch task      0.7 % ± 0.5 (24 pairs)   2.6 % ± 0.7 (10)   1.0 % ± 0.3 (16)

at the same 7-8 % of a core.  Two runs of three favour batch; weighted
together, 2.0 % against 1.1 %: a small gain, near this machine's noise, for
a setting that gives the sensor no less CPU.

``ringside run --cpu-policy normal`` keeps the ordinary policy.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

POLICIES = {"batch": os.SCHED_BATCH, "normal": os.SCHED_OTHER}
DEFAULT_POLICY = "batch"


def policy_name(policy: int) -> str:
    for name, value in POLICIES.items():
        if value == policy:
            return name
    return {os.SCHED_IDLE: "idle", os.SCHED_FIFO: "fifo", os.SCHED_RR: "rr"}.get(
        policy, str(policy))


def set_cpu_policy(name: str) -> str:
    """Give every thread of this process the policy ``name`` (a key of POLICIES).

    Threads started later inherit it from the thread that starts them.
    Returns the policy the main thread has afterwards.  A refusal (a seccomp
    filter, a real-time policy set by the operator that this would lower) is
    logged as a warning and leaves the policy as it was: the sensor runs
    either way.
    """
    policy = POLICIES[name]
    try:
        current = os.sched_getscheduler(0)
    except OSError as exc:
        log.warning("cpu policy: cannot read this process's scheduling policy (%s)", exc)
        return "unknown"
    if current in (os.SCHED_FIFO, os.SCHED_RR):
        # Somebody made the sensor real-time on purpose; leave it so.
        log.warning("cpu policy: the sensor runs under %s; leaving it, not switching to %s",
                    policy_name(current), name)
        return policy_name(current)
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]
    for tid in tids:
        try:
            # A thread id works here: Linux schedules threads, not processes.
            os.sched_setscheduler(tid, policy, os.sched_param(0))
        except ProcessLookupError:
            continue  # the thread ended meanwhile
        except OSError as exc:
            log.warning("cpu policy: could not switch to %s (%s); the sensor runs as it was",
                        name, exc)
            break
    return policy_name(os.sched_getscheduler(0))
