#!/usr/bin/env python3
"""Frames benchmark: scrubbing pictures from a 5-minute 1080p source and from its Preview proxy.

For each file, in the same run (320 px wide JPEG, the same random times for every row):
  cold            before each request the frame cache is cleared and the warm decoders closed
                  (`clearCache {scope: "frames"}`): open, seek, decode to the picture, scale, encode
  cold, keyframe  the same with `accurate: false`: the keyframe at or before the time
  warm decoder    the same times in the same order with the decoder sessions open and nothing cached but the
                  last picture (seeks from a warm session, or decoding on when the next time is just ahead)
  warm, cached    the same times again: answered from the frame cache
  sequential      every picture of a 10-second stretch in order, from a cold start (decoding on, no seeking)
  ffmpeg CLI      `ffmpeg -ss T -i F -frames:v 1` one process per picture, same times (the reference)
Latencies are round trips through the Python client, in milliseconds.

Goals (issue 8), on the proxy: cold p95 under 30 ms (aim 15), warm cached p99 under 2 ms (aim 1).
"""
import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
from aura_media_client import AuraMediaClient  # noqa: E402
import proxy as proxy_bench  # noqa: E402  (the camera-like source)


def log(message):
    print(message, file=sys.stderr, flush=True)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))]


class Server:
    def __init__(self, binary):
        self.directory = Path(tempfile.mkdtemp(prefix="aura-frames-bench-"))
        self.client = AuraMediaClient([str(binary), "serve", "--cache-dir", str(self.directory / "proxies"),
                                       "--waveform-cache-dir", str(self.directory / "waveforms"),
                                       "--frame-cache-dir", str(self.directory / "frames")],
                                      stderr=subprocess.DEVNULL)
        self.client.initialize(name="frames-bench")

    def frame(self, source, t, accurate=True):
        start = time.perf_counter()
        result = self.client.request("requestFrame", {"sourcePath": str(source), "time": t, "width": 320,
                                                      "accurate": accurate})
        return (time.perf_counter() - start) * 1000, result

    def close(self):
        self.client.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def cli_frame(path, t, output):
    start = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{t:.3f}", "-i", str(path), "-frames:v", "1",
                    "-vf", "scale=320:-2", str(output)], check=True)
    return (time.perf_counter() - start) * 1000


def measure(server, source, mode, times, cli_times, duration):
    """Rows for one file: `mode` "proxy" reads the proxy, "source" the source (setQuality)."""
    server.client.request("setQuality", {"mode": mode, "quality": "Preview"} if mode == "proxy" else {"mode": mode})
    rows = {}
    cold = []
    for t in times:
        server.client.request("clearCache", {"scope": "frames"})
        latency, result = server.frame(source, t)
        assert result["fromProxy"] == (mode == "proxy") and not result["fromCache"], (t, result["fromProxy"], result["fromCache"])
        cold.append(latency)
    rows["cold"] = cold
    keyframes = []
    for t in times:
        server.client.request("clearCache", {"scope": "frames"})
        keyframes.append(server.frame(source, t, accurate=False)[0])
    rows["cold, accurate: false (the keyframe)"] = keyframes
    server.client.request("clearCache", {"scope": "frames"})
    warm = []
    for t in times:
        warm.append(server.frame(source, t)[0])
    rows["warm decoder, not cached"] = warm
    cached = []
    for t in times:
        latency, result = server.frame(source, t)
        assert result["fromCache"], (t, result["time"])
        cached.append(latency)
    rows["warm, cached"] = cached
    server.client.request("clearCache", {"scope": "frames"})
    start = duration / 3
    rows["sequential (10 s, every picture)"] = [server.frame(source, start + i / 25 + 0.001)[0] for i in range(250)]
    with tempfile.TemporaryDirectory() as scratch:
        read = server.client.request("resolve", {"sourcePath": str(source)})["path"]
        rows["ffmpeg CLI, one process per picture"] = [cli_frame(read, t, Path(scratch) / "f.jpg") for t in cli_times]
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(ROOT / ".build" / "release" / "aura-media"))
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cli-requests", type=int, default=100, help="CLI runs per file (each is a process)")
    args = parser.parse_args()
    source = proxy_bench.make_source(args.minutes)
    duration = args.minutes * 60
    rng = random.Random(7)
    times = [rng.uniform(0, duration - 0.1) for _ in range(args.requests)]
    cli_times = times[:args.cli_requests]

    server = Server(args.binary)
    log("generating the Preview proxy ...")
    server.client.request("generate", {"sourcePath": str(source), "quality": "Preview", "backgroundGeneration": False},
                          timeout=1800)
    results = {}
    for mode in ["proxy", "source"]:
        log(f"{mode}: measuring ...")
        results[mode] = measure(server, source, mode, times, cli_times, duration)
    stats = server.client.request("stats")["frameCache"]
    server.close()

    print(f"Frames: {args.minutes:g}-minute 1080p25 H.264 source (GOP 2 s, B-frames) and its Preview proxy (1280x720, "
          f"GOP 0.8 s); 320 px JPEG; {args.requests} random times; milliseconds\n")
    print("| file | mode | p50 | p95 | p99 | p50 vs ffmpeg CLI |")
    print("|---|---|---|---|---|---|")
    for mode in ["proxy", "source"]:
        cli_p50 = statistics.median(results[mode]["ffmpeg CLI, one process per picture"])
        for name, values in results[mode].items():
            p50 = statistics.median(values)
            print(f"| {mode} | {name} | {p50:.2f} | {percentile(values, 95):.2f} | {percentile(values, 99):.2f} | "
                  f"{p50 / cli_p50:.3f}x |")
    print()
    cold95 = percentile(results["proxy"]["cold"], 95)
    warm99 = percentile(results["proxy"]["warm, cached"], 99)
    print(f"- goal: proxy cold p95 < 30 ms (aim 15 ms): {cold95:.1f} ms -> {'met' if cold95 < 30 else 'MISSED'}")
    print(f"- goal: proxy warm (cached) p99 < 2 ms (aim 1 ms): {warm99:.2f} ms -> {'met' if warm99 < 2 else 'MISSED'}")
    print(f"- server counters at the end: {stats['hits']} hits, {stats['misses']} misses, {stats['evictions']} evictions")


if __name__ == "__main__":
    main()
