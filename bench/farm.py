#!/usr/bin/env python3
"""Farm benchmark (issue 20): the catalogue and work queue on PostgreSQL, measured against a trivial query.

In one run, on a throwaway PostgreSQL 15 cluster (scripts/pg-test-cluster.sh) and the release binary's
`aura-media farm bench`:
  claims           16 simulated workers (tasks with a connection each) claiming a part and recording it, as a worker
                   does, for --seconds; reference: `SELECT 1` round trips from the same 16 tasks
  stats            the farm's totals (`stats --catalogue`) on a catalogue of --proxies completed proxies and their parts
                   (10 each); median and p95 of 50 calls; reference: one `SELECT 1` round trip
  status           one proxy's state and coverage (what `status` reads) on the same catalogue; median and p95 of 200

  overhead         one source (--overhead-minutes, default 2: bench/proxy.py's camera-like 1080p source; 60 for the
                   issue's hour) made by `aura-media generate` alone (the reference), by one farm worker, and by three
                   workers on this machine; each from a new catalogue and cache

Goals (issue 20): stats <= 20 ms and status <= 2 ms on 100,000 proxies; three workers on one machine at most 10 %
slower than one (on 2 cores the farm shows its overhead, not a speed-up). Claim throughput has no goal: the table
shows it and its ratio to the trivial query rate (the most any statement could do on this machine).
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def cluster(*arguments):
    return subprocess.run(["bash", str(ROOT / "scripts/pg-test-cluster.sh"), *arguments], check=True, capture_output=True,
                          text=True).stdout.strip()


def overhead(binary, minutes, directory, url):
    """Walls of one source made locally, by one worker and by three; and each worker's parts."""
    from proxy import make_source, probe
    source = make_source(minutes)
    seconds, _, _, _ = probe(source)
    rows = []
    for name, workers in [("aura-media generate (local)", 0), ("farm, 1 worker", 1), ("farm, 3 workers", 3)]:
        scratch = Path(tempfile.mkdtemp(prefix="aura-farm-bench-"))
        try:
            procs = []
            command = [binary, "generate", "--cache-dir", str(scratch / "cache"), str(source)]
            if workers:
                database = f"overhead{workers}"
                cluster("createdb", directory, database)
                catalogue = url.rsplit("/", 1)[0] + "/" + database
                for index in range(workers):
                    log = open(scratch / f"worker{index}.log", "w")
                    procs.append(subprocess.Popen(
                        [binary, "worker", "--catalogue", catalogue, "--cache-dir", str(scratch / "cache"), "--log-level", "info"],
                        stdout=log, stderr=log))
                command = [binary, "generate", "--catalogue", catalogue, str(source)]
            print(f"{name} ...", file=sys.stderr, flush=True)
            start = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True)
            wall = time.monotonic() - start
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed: {done.stdout}{done.stderr}")
            made = sum(len(re.findall(r" made \S+ of proxy", (scratch / f"worker{i}.log").read_text())) for i in range(workers))
            rows.append((name, wall, made))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return source, seconds, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--proxies", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--binary", default=str(ROOT / ".build/release/aura-media"))
    parser.add_argument("--overhead-minutes", type=float, default=2, help="the overhead rows' source (0: leave them out)")
    parser.add_argument("--overhead-only", action="store_true")
    args = parser.parse_args()

    url, directory = cluster("start").split()
    try:
        if args.overhead_minutes > 0:
            source, seconds, walls = overhead(args.binary, args.overhead_minutes, directory, url)
            one = next(wall for name, wall, _ in walls if name == "farm, 1 worker")
            local = walls[0][1]
            print(f"Farm overhead: {source.name} ({seconds:.0f} s, 1080p25) -> Preview, on this machine")
            print()
            print("| variant | wall s | realtime x | ratio vs 1 worker | ratio vs local | parts made |")
            print("|---|---|---|---|---|---|")
            for name, wall, made in walls:
                print(f"| {name} | {wall:.1f} | {seconds / wall:.2f} | {wall / one:.2f}x | {wall / local:.2f}x | {made or ''} |")
            three = walls[2][1]
            verdict = "met" if three <= 1.10 * one else "MISSED"
            print()
            print(f"- goal: three workers on one machine at most 10 % slower than one: {three / one:.2f}x -> {verdict}")
            print()
            if args.overhead_only:
                return 0
        cluster("createdb", directory, "bench")
        catalogue = url.rsplit("/", 1)[0] + "/bench"
        print(f"filling a catalogue with {args.proxies:,} proxies, then measuring ...", file=sys.stderr)
        out = subprocess.run(
            [args.binary, "farm", "bench", "--catalogue", catalogue, "--workers", str(args.workers), "--proxies", str(args.proxies),
             "--seconds", str(args.seconds)],
            capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        result = json.loads(out.stdout)
    finally:
        subprocess.run(["bash", str(ROOT / "scripts/pg-test-cluster.sh"), "stop", directory], capture_output=True)

    trivial_rate = result["trivialQueriesPerSecond"]
    trivial_ms = result["trivialMs"]
    print(f"Farm catalogue: {result['proxies']:,} completed proxies, {result['segmentRows']:,} part rows, "
          f"{result['workers']} simulated workers (PostgreSQL 15, loopback)")
    print()
    print("| measure | value | reference (SELECT 1) | ratio | goal |")
    print("|---|---|---|---|---|")
    print(f"| claims + recordings per second | {result['claimsPerSecond']:,.0f} | {trivial_rate:,.0f} | "
          f"{result['claimsPerSecond'] / trivial_rate:.2f}x | |")
    print(f"| parts claimed twice | {result['duplicateClaims']} | | | 0 |")
    for name, key, goal in [("stats", "statsMs", 20.0), ("status", "statusMs", 2.0)]:
        median, p95 = result[key]
        verdict = "met" if p95 <= goal else "MISSED"
        print(f"| {name} median / p95 (ms) | {median:.2f} / {p95:.2f} | {trivial_ms[0]:.2f} / {trivial_ms[1]:.2f} | "
              f"{median / trivial_ms[0]:.1f}x | <= {goal:g} ms: {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
