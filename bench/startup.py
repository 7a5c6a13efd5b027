#!/usr/bin/env python3
"""bench/startup.py: the CPU time one start of each rexec binary costs.

Usage: bench/startup.py [-n RUNS] [-k COPIES] BIN [BIN...]

Runs `BIN version` RUNS times per binary, the binaries interleaved in a
new random order each iteration so that a slower moment of a shared
machine hits all of them alike, and reads each process's CPU time (user
plus system) and minor page faults from wait4. Each binary is first
copied COPIES times into a temporary directory and every copy is timed:
on the VM of docs/BENCHMARKS.md a file written by the Go linker and a cp
of it started up to 0.3 ms apart, whatever their content, so only copies
made the same way compare. Prints the median per copy, their mean per
binary, and each binary's difference from the first one.
See docs/BENCHMARKS.md, "Start-up cost of net/http".
"""
import argparse
import os
import random
import shutil
import statistics
import tempfile


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=1000, help="runs per copy (default 1000)")
    p.add_argument("-k", type=int, default=4, help="copies per binary (default 4)")
    p.add_argument("bins", nargs="+")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copies = {b: [] for b in a.bins}
        for i, b in enumerate(a.bins):
            for k in range(a.k):
                dst = os.path.join(tmp, "%d.%d" % (i, k))
                shutil.copy(b, dst)
                copies[b].append(dst)
        files = [f for b in a.bins for f in copies[b]]
        cpu = {f: [] for f in files}
        faults = {f: [] for f in files}
        null = os.open(os.devnull, os.O_WRONLY)
        for _ in range(a.n):
            random.shuffle(files)
            for f in files:
                pid = os.posix_spawn(f, [f, "version"], os.environ,
                                     file_actions=[(os.POSIX_SPAWN_DUP2, null, 1)])
                _, status, ru = os.wait4(pid, 0)
                if status != 0:
                    raise SystemExit("%s version: exit status %#x" % (f, status))
                cpu[f].append((ru.ru_utime + ru.ru_stime) * 1000)
                faults[f].append(ru.ru_minflt)
        mean = {}
        for b in a.bins:
            meds = [statistics.median(cpu[f]) for f in copies[b]]
            mean[b] = statistics.mean(meds)
            flt = statistics.median([statistics.median(faults[f]) for f in copies[b]])
            print("%-40s CPU ms per start: %.3f (copies: %s), minor faults %d" % (
                b, mean[b], " ".join("%.3f" % m for m in meds), flt))
        for b in a.bins[1:]:
            print("%s - %s: %+.3f ms" % (b, a.bins[0], mean[b] - mean[a.bins[0]]))


if __name__ == "__main__":
    main()
