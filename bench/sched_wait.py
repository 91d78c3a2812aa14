#!/usr/bin/python3
"""Run a command and report its wall time, its on-CPU time and how long its threads were runnable but waiting for a CPU.

    /usr/bin/python3 bench/sched_wait.py COMMAND [ARG...]

Polls /proc/PID/task/*/schedstat (on-CPU ns, run-queue wait ns) every 50 ms and sums the last value seen per thread,
so threads that end between polls lose up to 50 ms. On a shared machine this tells CPU starvation from slowness of
the command itself. The command's stdout is discarded.
"""
import os
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    t0 = time.monotonic()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    last = {}
    while proc.poll() is None:
        try:
            tids = os.listdir(f"/proc/{proc.pid}/task")
        except OSError:
            tids = []
        for tid in tids:
            try:
                with open(f"/proc/{proc.pid}/task/{tid}/schedstat") as f:
                    run, wait, _ = map(int, f.read().split())
                last[tid] = (run, wait)
            except (OSError, ValueError):
                pass
        time.sleep(0.05)
    wall = time.monotonic() - t0
    run = sum(r for r, _ in last.values()) / 1e9
    wait = sum(w for _, w in last.values()) / 1e9
    print(f"{os.path.basename(sys.argv[1])}: exit {proc.returncode}, wall {wall:.2f} s, on-CPU {run:.2f} s, "
          f"runnable but waiting for a CPU {wait:.2f} s (summed over {len(last)} threads)")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
