#!/usr/bin/env python3
"""A scripted AuraMedia session: what an editor front-end does when a clip is imported.

Prints every message exchanged (abridged) so the protocol can be followed on screen.
"""
import argparse
import json
import os
import subprocess
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients", "python"))
from aura_media_client import AuraMediaClient, AuraMediaError  # noqa: E402


def show(direction, text):
    text = text if len(text) < 400 else text[:400] + " …"
    print(f"{direction} {text}", flush=True)


def on_notification(method, params):
    windows = params.get("value", {}).get("windows") if method == "$/progress" else None
    if windows:
        for window in windows:
            peaks = window["max"][:6]
            print(f"   ~ waveform window {window['index']} [{window['startTime']:.1f}-{window['endTime']:.1f} s]: "
                  f"{len(window['max'])} pixels, first peaks {peaks}", flush=True)
    elif method == "$/progress" and params.get("value", {}).get("kind") == "report":
        value = params["value"]
        print(f"   ~ progress {params['token']}: {value.get('percentage', '?')}% {value.get('message', '')}", flush=True)
    else:
        show("<-", f"{method} {json.dumps(params)}")


def call(client, method, params=None):
    show("->", f"{method} {json.dumps(params) if params is not None else ''}")
    try:
        result = client.request(method, params, timeout=900)
        show("<-", json.dumps(result))
        return result
    except AuraMediaError as error:
        show("<-", f"error {error.code}: {error.message}")
        return None


def sample_clip(directory):
    """A 20-second 1080p25 clip with audio, made with the ffmpeg CLI (demo input only)."""
    path = os.path.join(directory, "sample-1080p.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=20",
                    "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=20",
                    "-c:v", "libx264", "-preset", "veryfast", "-b:v", "12M", "-c:a", "aac", "-ac", "2", path],
                   check=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", default=".build/release/aura-media")
    parser.add_argument("media", nargs="?")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="aura-demo-")
    media = os.path.abspath(args.media) if args.media else sample_clip(work)
    cache = os.path.join(work, "aura-proxy-cache")
    waveforms = os.path.join(work, "aura-waveform-cache")
    frames = os.path.join(work, "aura-frame-cache")
    config = os.path.join(work, "config")  # the demo's settings stay out of ~/.config/aura-media
    client = AuraMediaClient([args.binary, "serve", "--cache-dir", cache, "--waveform-cache-dir", waveforms,
                              "--frame-cache-dir", frames, "--config-dir", config, "--log-level", "warning"],
                             on_notification=on_notification)
    result = call(client, "initialize", {"clientInfo": {"name": "demo"}})
    client.notify("initialized", {})
    methods = set(result["capabilities"]["methods"])

    call(client, "ping", {"echo": "hello"})
    call(client, "probe", {"path": media})
    call(client, "probe", {"path": os.path.join(work, "missing.mp4")})

    if "generate" in methods:
        call(client, "resolve", {"sourcePath": media})
        started = time.monotonic()
        call(client, "generate", {"sourcePath": media, "quality": "Preview", "backgroundGeneration": False,
                                  "workDoneToken": "demo-proxy"})
        print(f"   (proxy made in {time.monotonic() - started:.1f} s)")
        call(client, "status", {"sourcePath": media, "quality": "Preview"})
        call(client, "setQuality", {"mode": "proxy", "quality": "Preview"})
        call(client, "resolve", {"sourcePath": media})
        call(client, "setQuality", {"mode": "source"})
        call(client, "resolve", {"sourcePath": media})
        call(client, "stats", {})

    if "requestWaveformRange" in methods:
        info = call(client, "probe", {"path": media}) or {}
        duration = info.get("durationSeconds") or 10
        # The timeline shows the middle of the clip: those windows come first, the rest by distance.
        middle = duration / 2
        summary = call(client, "requestWaveformRange", {
            "sourcePath": media, "startTime": 0, "endTime": duration, "pixelsPerSecond": 100,
            "visibleStart": middle, "visibleEnd": middle + 2, "windowSeconds": 2, "partialResultToken": "demo-wave"})
        if summary:
            started = time.monotonic()
            call(client, "requestWaveformRange", {"sourcePath": media, "startTime": middle, "endTime": middle + 2,
                                                  "pixelsPerSecond": 100, "channels": "all", "windowSeconds": 2})
            print(f"   (again from the cache in {(time.monotonic() - started) * 1000:.1f} ms)")
            call(client, "exportWaveform", {"sourcePath": media, "outputPath": os.path.join(work, "waveform.dat"),
                                            "samplesPerPixel": 512, "bits": 8})
        call(client, "stats", {})

    if "requestFrame" in methods:
        info = call(client, "probe", {"path": media}) or {}
        duration = info.get("durationSeconds") or 10
        call(client, "setQuality", {"mode": "proxy", "quality": "Preview"})
        middle = duration / 2
        for label in ["cold", "again (cached)"]:
            started = time.monotonic()
            frame = call(client, "requestFrame", {"sourcePath": media, "time": middle, "width": 320})
            if frame:
                print(f"   ({label}: a {frame['width']}x{frame['height']} JPEG of {len(frame['data']) * 3 // 4} bytes from the "
                      f"{'proxy' if frame['fromProxy'] else 'source'} in {(time.monotonic() - started) * 1000:.1f} ms)")
        call(client, "requestFrame", {"sourcePath": media, "time": middle + 1, "height": 180, "format": "png",
                                      "delivery": "file"})
        playhead = {"sourcePath": media, "time": middle, "rate": 1, "width": 320}
        show("->", f"setPlayhead {json.dumps(playhead)}")
        client.notify("setPlayhead", playhead)
        time.sleep(1.5)
        started = time.monotonic()
        frame = call(client, "requestFrame", {"sourcePath": media, "time": middle + 0.5, "width": 320})
        if frame:
            print(f"   (0.5 s ahead of the playhead: fromCache {frame['fromCache']}, {(time.monotonic() - started) * 1000:.1f} ms)")
        stats = call(client, "stats", {}) or {}
        if "frameCache" in stats:
            print(f"   (frame cache: {json.dumps(stats['frameCache'])})")

    if "importMedia" in methods:
        # Import a folder: the clip (made already: fresh), a copy at Draft (queued), a text file (not media).
        folder = os.path.join(work, "import")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(media, os.path.join(folder, "copy" + os.path.splitext(media)[1]))
        with open(os.path.join(folder, "notes.txt"), "w") as notes:
            notes.write("shot list\n")
        call(client, "updateSettings", {"settings": {"defaultQuality": "Draft", "telemetryWindowSeconds": 30}})
        call(client, "importMedia", {"paths": [folder, os.path.join(work, "missing.mov")]})

    if "getMetricsSummary" in methods:
        # The editor reports what the user sees; slow scrubbing starts one warning episode with the guide's advice.
        for latency in [12, 18, 95, 140, 160]:
            report = {"scrubLatencyMs": latency, "playbackFps": 29.97, "cacheHit": latency < 50}
            show("->", f"telemetry/report {json.dumps(report)}")
            client.notify("telemetry/report", report)
        time.sleep(0.3)
        summary = call(client, "getMetricsSummary", {}) or {}
        print(f"   (status: {json.dumps(summary.get('status'))})")
        for suggestion in summary.get("suggestions", []):
            print(f"   (suggestion: {suggestion})")

    show("->", "shutdown")
    status = client.close()
    print(f"server exited with status {status}")
    print(f"the session's caches and files are kept in {work} for a look; remove it when done")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
