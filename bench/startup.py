#!/usr/bin/env python3
"""Startup benchmark: `llorch-pool models catalog` (standalone) and `llorch-pool --help`,
measured side by side with `python3 -c pass`, the floor of any Python tool such as `hf`.

Runs every command in interleaved rounds (so drift hits all alike) and prints each median and
its ratio to the Python floor. Usage: bench/startup.py BUILD_DIR [--runs N]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def measure(argv, env, cwd):
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    cli = os.path.join(args.build_dir, "client", "llorch-pool")
    work = tempfile.mkdtemp(prefix="llorch-bench-")
    env = dict(os.environ)
    env["XDG_RUNTIME_DIR"] = work  # no agent answers here: standalone mode
    env["XDG_CONFIG_HOME"] = work
    python = shutil.which("python3")
    commands = {
        "python3 -c pass": [python, "-c", "pass"],
        "llorch-pool models catalog": [cli, "models", "catalog"],
        "llorch-pool --help": [cli, "--help"],
    }
    if os.path.exists("/usr/bin/python3") and os.path.realpath(python) != "/usr/bin/python3":
        commands["/usr/bin/python3 -c pass"] = ["/usr/bin/python3", "-c", "pass"]
    samples = {name: [] for name in commands}
    for argv in commands.values():  # warm the page cache
        measure(argv, env, work)
    for _ in range(args.runs):
        for name, argv in commands.items():
            samples[name].append(measure(argv, env, work))
    floor = statistics.median(samples["python3 -c pass"])
    print(f"startup, median of {args.runs} runs ({python} as python3)")
    for name, times in samples.items():
        median = statistics.median(times)
        print(f"  {name:32s} {median * 1000:8.2f} ms   {median / floor:5.3f}x python3 -c pass")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
