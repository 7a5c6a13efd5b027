#!/usr/bin/env python3
"""bench/oneshot_ab.py: one-shot `rexec run localhost -- true`, binary A against B.

Usage: bench/oneshot_ab.py [-n ROUNDS] BIN [BIN...]

Each binary is copied into a temporary directory (a file written by the Go
linker execs slower than a copy of it: docs/BENCHMARKS.md, "One-shot
latency with net/http linked") and gets its own `rexec serve` on a free
port of 127.0.0.1 with its own zero-configuration home, so client and
daemon of one build always meet. Every round runs each binary's one-shot
once, in a new random order, and takes the wall time from spawn to exit;
stdin, stdout and stderr are /dev/null. It prints each binary's median
and lower percentiles and, for every binary after the first, the median
of its paired differences from the first within the same rounds: on a
shared machine that difference is steadier than either median.
See docs/BENCHMARKS.md, "One-shot latency after the merges".
"""
import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_serving(port, deadline):
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=600, help="rounds (default 600)")
    p.add_argument("-w", type=int, default=10, help="warm-up runs per binary (default 10)")
    p.add_argument("bins", nargs="+")
    a = p.parse_args()
    null = os.open(os.devnull, os.O_RDWR)
    daemons = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        try:
            for i, b in enumerate(a.bins):
                exe = os.path.join(tmp, "rexec.%d" % i)
                shutil.copy(b, exe)
                home = os.path.join(tmp, "home.%d" % i)
                os.mkdir(home, 0o700)
                env = dict(os.environ, REXEC_HOME=home)
                port = free_port()
                d = subprocess.Popen([exe, "serve", "--listen", "127.0.0.1:%d" % port], env=env,
                                     stdin=null, stdout=null, stderr=null, start_new_session=True)
                daemons.append(d)
                if not wait_serving(port, time.monotonic() + 30):
                    raise SystemExit("%s: rexec serve did not start" % b)
                runs[b] = ([exe, "run", "-p", str(port), "localhost", "--", "true"], env)

            def once(b):
                argv, env = runs[b]
                t = time.perf_counter_ns()
                pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                    (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
                _, status = os.waitpid(pid, 0)
                took = (time.perf_counter_ns() - t) / 1e6
                if status != 0:
                    raise SystemExit("%s: one-shot failed (wait status %d)" % (b, status))
                return took

            for b in a.bins:
                for _ in range(a.w):
                    once(b)
            times = {b: [] for b in a.bins}
            for _ in range(a.n):
                order = list(a.bins)
                random.shuffle(order)
                for b in order:
                    times[b].append(once(b))
        finally:
            for d in daemons:
                d.send_signal(signal.SIGTERM)
                d.wait(timeout=30)
    base = a.bins[0]
    for b in a.bins:
        t = sorted(times[b])
        print("%-40s median %.3f ms  p25 %.3f  p10 %.3f" % (b, statistics.median(t), t[len(t) // 4], t[len(t) // 10]))
    for b in a.bins[1:]:
        d = [x - y for x, y in zip(times[b], times[base])]
        print("%s - %s: median paired difference %+.3f ms" % (b, base, statistics.median(d)))


if __name__ == "__main__":
    main()
