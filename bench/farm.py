#!/usr/bin/env python3
"""Farm benchmark (issue 20): the catalogue and work queue on PostgreSQL, measured against a trivial query.

In one run, on a throwaway PostgreSQL 15 cluster (scripts/pg-test-cluster.sh) and the release binary's
`aura-media farm bench`:
  claims           16 simulated workers (tasks with a connection each) claiming a part and recording it, as a worker
                   does, for --seconds; reference: `SELECT 1` round trips from the same 16 tasks
  stats            the farm's totals (`stats --catalogue`) on a catalogue of --proxies completed proxies and their parts
                   (10 each); median and p95 of 50 calls; reference: one `SELECT 1` round trip
  status           one proxy's state and coverage (what `status` reads) on the same catalogue; median and p95 of 200

Goals (issue 20): stats <= 20 ms and status <= 2 ms on 100,000 proxies. Claim throughput has no goal: the table
shows it and its ratio to the trivial query rate (the most any statement could do on this machine).
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--proxies", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--binary", default=str(ROOT / ".build/release/aura-media"))
    args = parser.parse_args()

    started = subprocess.run(["bash", str(ROOT / "scripts/pg-test-cluster.sh"), "start"], check=True, capture_output=True, text=True)
    url, directory = started.stdout.split()
    try:
        subprocess.run(["bash", str(ROOT / "scripts/pg-test-cluster.sh"), "createdb", directory, "bench"], check=True, capture_output=True)
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
