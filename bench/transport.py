#!/usr/bin/env python3
"""Transport benchmark: round-trip latency and pipelined throughput of `ping` through stdin/stdout pipes.

The reference in the same run is `cat`, which echoes each frame back: the cost of the pipes and of this
client alone. The table reports aura-media's numbers, cat's, and their ratio, so a noisy shared machine
still yields a meaningful comparison.
"""
import argparse
import json
import statistics
import subprocess
import sys
import threading
import time


def frame(message):
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_frame(stream):
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("peer closed its output")
        line = line.rstrip(b"\r\n")
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return json.loads(stream.read(length))


def start(command):
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)


def handshake(process, is_server):
    if not is_server:
        return
    process.stdin.write(frame({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}))
    read_frame(process.stdout)


def latency(process, count):
    samples = []
    out = process.stdout
    for i in range(count):
        request = frame({"jsonrpc": "2.0", "id": i + 1, "method": "ping"})
        t0 = time.perf_counter_ns()
        process.stdin.write(request)
        message = read_frame(out)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        assert message.get("id") == i + 1, message
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1], statistics.mean(samples)


def throughput(process, count, first_id):
    payload = b"".join(frame({"jsonrpc": "2.0", "id": first_id + i, "method": "ping"}) for i in range(count))

    def writer():
        process.stdin.write(payload)

    t0 = time.perf_counter()
    thread = threading.Thread(target=writer)
    thread.start()
    out = process.stdout
    for _ in range(count):
        read_frame(out)
    elapsed = time.perf_counter() - t0
    thread.join()
    return count / elapsed


def measure(command, is_server, rtt_count, burst_count):
    process = start(command)
    try:
        handshake(process, is_server)
        latency(process, 200)  # warm-up
        p50, p99, mean = latency(process, rtt_count)
        rate = throughput(process, burst_count, 10_000_000)
    finally:
        process.stdin.close()
        process.wait(timeout=30)
    return p50, p99, mean, rate


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", default=".build/release/aura-media")
    parser.add_argument("--round-trips", type=int, default=5000)
    parser.add_argument("--burst", type=int, default=50000)
    args = parser.parse_args()

    aura = measure([args.binary, "serve", "--log-level", "error"], True, args.round_trips, args.burst)
    cat = measure(["cat"], False, args.round_trips, args.burst)
    print(f"Transport: {args.round_trips} sequential ping round trips, then {args.burst} pipelined pings\n")
    print("| measure | aura-media | cat (pipe echo reference) | ratio aura/cat | goal |")
    print("|---|---|---|---|---|")
    print(f"| round trip p50 (ms) | {aura[0]:.3f} | {cat[0]:.3f} | {aura[0] / cat[0]:.1f}x | |")
    print(f"| round trip p99 (ms) | {aura[1]:.3f} | {cat[1]:.3f} | {aura[1] / cat[1]:.1f}x | < 1 ms: {'met' if aura[1] < 1 else 'MISSED'} |")
    print(f"| round trip mean (ms) | {aura[2]:.3f} | {cat[2]:.3f} | {aura[2] / cat[2]:.1f}x | |")
    print(f"| pipelined throughput (msg/s) | {aura[3]:,.0f} | {cat[3]:,.0f} | {aura[3] / cat[3]:.2f}x | > 20,000: {'met' if aura[3] > 20000 else 'MISSED'} |")


if __name__ == "__main__":
    sys.exit(main())
