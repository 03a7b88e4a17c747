#!/usr/bin/env python3
"""Proxy-generation benchmark: a 1280x720 Preview proxy of a 1080p25 camera-like source, made three ways.

  aura-media        `generate` (Preview, backgroundGeneration false, overwrite true) through the Python
                    client, in a fresh cache directory
  ffmpeg original   Aura Video Studio's original command (x264 preset fast, scale+pad, 3 Mb/s)
  ffmpeg veryfast   the same command with `-preset veryfast`

The source is synthetic but not a test card: a zooming Mandelbrot background, a panning testsrc2 window
moving over it, a Game of Life patch and temporal grain, encoded like a camera file (H.264 1080p25,
~10 Mb/s, fixed GOP of 50, AAC stereo). It is cached under bench/out/ by duration
(and a hash of the recipe), so reruns skip it.

For each output the table gives the wall time (best of --repeat), the realtime factor, the time ratio vs
the original command, SSIM against the source downscaled with bicubic to the output's size, the peak RSS,
the longest GOP in frames and the file size; then it checks the goals: aura-media at most 0.45x the
original command's time with SSIM >= 0.985, and a 5-minute 1080p source in under 5 minutes.

Segment rows (`--segments-only` for them alone; issue 19): the segmented proxy against the one-pass encode of the
same settings (`aura-media transcode`, goal <= 1.05x), the join's share of the whole (goal <= 5 %), the time to the
first usable segment at a mid-file playhead on a cold cache against one segment's encode time (goal <= 2x), and a
kill -9 at about 60 % followed by a resumed `generate` (extra encoding goal: at most one segment).

Footage rows (`--footage-only` for them alone): tone mapping, deinterlacing and the 4K HEVC 10-bit path, each as a
ratio against a reference measured in the same run (goals on wall time: 1.15x, 1.15x, 1.25x), with CPU time
(user + system) beside it: on a shared machine it moves less with the neighbours' load.
"""
import argparse
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
from aura_media_client import AuraMediaClient  # noqa: E402

OUT = ROOT / "bench" / "out"
PROXY_W, PROXY_H = 1280, 720
FIT_1280x720 = "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2"

# The synthetic source: a zooming Mandelbrot background (its zoom speed is fixed, so a shorter source is a
# prefix of a longer one), a panning testsrc2 window sliding over it, a Game of Life patch updating 5 times a
# second, and temporal grain. The Mandelbrot layer is slightly blurred (lens softness): deep in the zoom its
# unblurred boundary turns into per-pixel chaos that no camera records. Layers are opaque: blended
# (semi-transparent) layers move two ways at once, which real footage rarely does, and they (like a full-rate
# Life layer) drove even the original command down to SSIM ~0.91. With this recipe the original command
# scores ~0.989 on the 2-minute source (real footage in the shared notes: 0.992), so it is a little harder.
SOURCE_INPUTS = [
    "mandelbrot=s=640x360:r=25:end_pts=7500:end_scale=0.0005:outer=normalized_iteration_count",
    "testsrc2=s=1200x675:r=25",
    "life=s=320x180:r=5:mold=10:ratio=0.2:death_color=#202080:life_color=#e0c040:mold_color=#604020",
    "aevalsrc=0.2*sin(2*PI*(220+20*sin(t))*t)+0.05*(random(0)-0.5)|0.2*sin(2*PI*330*t)+0.05*(random(1)-0.5)"
    ":s=48000",
]
SOURCE_GRAPH = (
    "[0:v]gblur=sigma=1,scale=1920:1080:flags=bicubic,format=yuv420p[background];"
    "[1:v]crop=960:540:x='120+120*sin(t*0.5)':y='67+67*cos(t*0.3)',format=yuv420p[window];"
    "[2:v]fps=25,scale=640:360:flags=neighbor,format=yuv420p[life];"
    "[background][window]overlay=x='480+400*sin(t*0.4)':y='270+200*cos(t*0.27)'[moving];"
    "[moving][life]overlay=x=W-w-40:y=40,noise=alls=4:allf=t+u,format=yuv420p[v]"
)


# -- helpers -------------------------------------------------------------------------------------------
def run(command, **kwargs):
    """Runs a command, raising with its stderr tail on failure; returns the CompletedProcess."""
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done


def probe(path):
    """(duration s, width, height, video frame count or None) of a media file."""
    duration = float(run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                          str(path)]).stdout.strip())
    fields = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                  "stream=width,height,nb_frames", "-of", "csv=p=0", str(path)]).stdout.strip().split(",")
    frames = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None
    return duration, int(fields[0]), int(fields[1]), frames


def log(message):
    print(message, file=sys.stderr, flush=True)


# -- source --------------------------------------------------------------------------------------------
def make_source(minutes):
    """Returns the cached camera-like source of `minutes` minutes, encoding it first if missing."""
    seconds = round(minutes * 60)
    recipe = hashlib.sha1(repr((SOURCE_INPUTS, SOURCE_GRAPH)).encode()).hexdigest()[:8]
    path = OUT / f"source-1080p25-{seconds}s-{recipe}.mp4"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    log(f"making a {seconds} s 1080p25 source at {path} (about realtime on 2 cores)...")
    partial = path.with_suffix(".partial.mp4")
    inputs = [arg for graph in SOURCE_INPUTS for arg in ("-f", "lavfi", "-i", graph)]
    run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *inputs,
         "-filter_complex", SOURCE_GRAPH, "-map", "[v]", "-map", "3:a", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "veryfast", "-b:v", "10M", "-maxrate", "12M", "-bufsize", "20M",
         "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "192k", "-ac", "2", "-movflags", "+faststart", str(partial)])
    partial.rename(path)
    return path


# -- the three ways ------------------------------------------------------------------------------------
def aura_once(binary, source, cache_dir, timeout, cpu=None, events=None):
    """One `generate` in a fresh cache dir: (wall s, proxy path, peak RSS KB of the server). With a list for `cpu`,
    appends the server's CPU seconds (user + system) spent during the request; with a list for `events`, appends
    (seconds since the request, progress value) for each of the job's `$/progress` values."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    start = [time.perf_counter()]

    def noted(method, params):
        if events is not None and method == "$/progress" and params.get("token") == "bench":
            events.append((time.perf_counter() - start[0], params["value"]))

    with open(OUT / "aura-serve.log", "ab") as server_log:
        client = AuraMediaClient([str(binary), "serve", "--cache-dir", str(cache_dir), "--log-level", "warning"],
                                 on_notification=noted, stderr=server_log)
        try:
            client.initialize()
            params = {"sourcePath": str(source), "quality": "Preview", "backgroundGeneration": False,
                      "overwrite": True, "workDoneToken": "bench"}
            cpu0 = cpu_seconds(client.process.pid)
            t0 = time.perf_counter()
            start[0] = t0
            result = client.request("generate", params, timeout)
            wall = time.perf_counter() - t0
            if cpu is not None:
                cpu.append(cpu_seconds(client.process.pid) - cpu0)
            peak_kb = vm_hwm_kb(client.process.pid)
        finally:
            client.close()
    if result.get("status") != "completed":
        raise RuntimeError(f"generate did not complete: {result}")
    return wall, Path(result["proxy"]["proxyPath"]), peak_kb


def cpu_seconds(pid):
    """User + system CPU time of a live process so far (all its threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kb(pid):
    """Peak resident set of a live process (VmHWM), in KB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def ffmpeg_once(source, preset, output):
    """One run of the original command with `preset`: (wall s, output path, peak RSS KB)."""
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-vf", FIT_1280x720,
               "-c:v", "libx264", "-preset", preset, "-b:v", "3000k", "-c:a", "aac", "-b:a", "128k",
               "-movflags", "+faststart", str(output)]
    rss_file = OUT / "ffmpeg-rss.txt"
    timed = Path("/usr/bin/time").exists()
    if timed:
        command = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] + command
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    run(command)
    wall = time.perf_counter() - t0
    if timed:
        peak_kb = int(rss_file.read_text().split()[-1])
    else:
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak_kb = after if after > before else None  # unknown when below an earlier child's peak
    return wall, output, peak_kb


def best_of(repeat, once):
    """Runs `once()` `repeat` times; keeps the fastest (wall, path, peak RSS)."""
    runs = [once() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


# -- measurements of an output ---------------------------------------------------------------------------
def ssim(proxy, source, width, height):
    """SSIM (All) of the proxy against the source scaled with bicubic to width x height."""
    graph = f"[1:v]scale={width}:{height}:flags=bicubic[ref];[0:v][ref]ssim"
    done = run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(proxy), "-i", str(source), "-lavfi", graph,
                "-f", "null", "-"])
    return float(re.findall(r"All:([0-9.]+)", done.stderr)[-1])


def gop_stats(path):
    """(longest GOP in frames, frame count): the longest run from a key frame to the next, or to the end."""
    flags = run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=key_frame",
                 "-of", "csv", str(path)]).stdout.splitlines()
    # One "frame,<key_frame>" line per frame; a frame with side data gets ",side_data,..." appended.
    flags = [line.split(",")[1] for line in flags if line.startswith("frame,")]
    keys = [i for i, flag in enumerate(flags) if flag == "1"]
    bounds = keys + [len(flags)]
    return max(b - a for a, b in zip(bounds, bounds[1:])), len(flags)


def measure(name, wall, path, peak_kb, source, source_seconds):
    _, width, height, _ = probe(path)
    log(f"measuring {name}: {width}x{height}, SSIM and GOPs...")
    longest_gop, frames = gop_stats(path)
    return {"name": name, "wall": wall, "realtime": source_seconds / wall, "width": width, "height": height,
            "ssim": ssim(path, source, width, height), "rss_mb": peak_kb / 1024 if peak_kb else None,
            "gop": longest_gop, "frames": frames, "size_mb": path.stat().st_size / 1e6, "path": path}


# -- report --------------------------------------------------------------------------------------------
def print_report(rows, source, source_seconds, source_frames):
    original = next(r for r in rows if r["name"].startswith("ffmpeg original"))
    print(f"Proxy generation: {source.name} ({source_seconds:.0f} s, 1080p25 H.264 ~10 Mb/s GOP 50 + AAC, "
          f"{source_frames} frames) -> 1280x720 Preview\n")
    print("| variant | wall s | realtime x | ratio vs original | SSIM | peak RSS MB | longest GOP | size MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        rss = f"{r['rss_mb']:.0f}" if r["rss_mb"] else "n/a"
        print(f"| {r['name']} | {r['wall']:.1f} | {r['realtime']:.2f} | {r['wall'] / original['wall']:.2f}x "
              f"| {r['ssim']:.4f} | {rss} | {r['gop']} | {r['size_mb']:.1f} |")
    print()
    for r in rows:
        if r["frames"] != source_frames or (r["width"], r["height"]) != (PROXY_W, PROXY_H):
            print(f"- note: {r['name']} is {r['width']}x{r['height']} with {r['frames']} frames "
                  f"(source: {source_frames})")
    aura = next((r for r in rows if r["name"] == "aura-media"), None)
    if aura is None:
        print("- aura-media: not measured")
        return
    ratio = aura["wall"] / original["wall"]
    fast_ok, ssim_ok = ratio <= 0.45, aura["ssim"] >= 0.985
    print(f"- goal: aura-media wall <= 0.45x the original command with SSIM >= 0.985: "
          f"{ratio:.2f}x, SSIM {aura['ssim']:.4f} -> {'met' if fast_ok and ssim_ok else 'MISSED'}")
    projected = 300 / aura["realtime"]
    print(f"- goal: a 5-minute 1080p source in under 5 minutes: projected {projected:.0f} s from aura-media's "
          f"{aura['realtime']:.2f}x realtime -> {'met' if projected < 300 else 'MISSED'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(ROOT / ".build" / "release" / "aura-media"))
    parser.add_argument("--minutes", type=float, default=2, help="source duration (default 2; 5 for the guide's case)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant; the fastest counts (default 1)")
    parser.add_argument("--skip-aura", action="store_true", help="measure only the ffmpeg CLI variants")
    parser.add_argument("--skip-4k", action="store_true", help="skip the 4K peak-memory check")
    parser.add_argument("--skip-footage", action="store_true", help="skip the HDR, interlaced and 4K HEVC rows")
    parser.add_argument("--footage-only", action="store_true", help="only the HDR, interlaced and 4K HEVC rows")
    parser.add_argument("--segments-only", action="store_true", help="only the segmented-proxy rows")
    parser.add_argument("--skip-segments", action="store_true", help="skip the segmented-proxy rows")
    args = parser.parse_args()

    if args.segments_only:
        segment_rows(args.binary, make_source(args.minutes), args.repeat)
        return

    if args.footage_only:
        footage_rows(args.binary, args.repeat)
        return
    source = make_source(args.minutes)
    source_seconds, _, _, source_frames = probe(source)
    timeout = max(600, 20 * source_seconds)
    results = []
    if not args.skip_aura:
        log("aura-media generate...")
        cache_dir = OUT / "aura-cache"
        results.append(("aura-media", *best_of(args.repeat, lambda: aura_once(args.binary, source, cache_dir, timeout))))
    for label, preset in (("ffmpeg original (fast)", "fast"), ("ffmpeg veryfast", "veryfast")):
        log(f"{label}...")
        output = OUT / f"proxy-{preset}.mp4"
        results.append((label, *best_of(args.repeat, lambda: ffmpeg_once(source, preset, output))))
    rows = [measure(*r, source, source_seconds) for r in results]
    print_report(rows, source, source_seconds, source_frames)
    if not args.skip_aura and not args.skip_segments:
        print()
        segment_rows(args.binary, source, args.repeat)
    if not args.skip_aura and not args.skip_4k:
        memory_check_4k(args.binary, timeout)
    if not args.skip_aura and not args.skip_footage:
        print()
        footage_rows(args.binary, args.repeat)


def memory_check_4k(binary, timeout):
    """Peak RSS of the server while it makes a Preview proxy of a 4K source (goal: under 400 MB)."""
    source = OUT / "source-2160p25-10s.mp4"
    if not source.exists():
        log("making the 4K source...")
        partial = source.with_suffix(".partial.mp4")
        run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", "testsrc2=s=3840x2160:r=25:d=10,noise=alls=3:allf=t",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:d=10",
             "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "40M", "-g", "50", "-c:a", "aac", "-ac", "2",
             "-f", "mp4", str(partial)])
        partial.rename(source)
    log("aura-media generate (4K source)...")
    wall, _, peak_kb = aura_once(binary, source, OUT / "aura-cache-4k", timeout)
    peak_mb = peak_kb / 1024 if peak_kb else float("nan")
    verdict = "met" if peak_kb and peak_mb < 400 else "MISSED"
    print(f"\n- 4K memory: Preview proxy of a 10 s 3840x2160 source in {wall:.1f} s, server peak RSS {peak_mb:.0f} MB "
          f"(goal < 400 MB): {verdict}")


# -- segmented proxies (issue 19) ----------------------------------------------------------------------------
def segment_times(events):
    """(seconds at which each part landed, whether it was a video segment) from a job's progress values."""
    landed, done, covered = [], 0, []
    for at, value in events:
        completed = value.get("segmentsCompleted")
        if completed is None or completed <= done:
            continue
        landed.append((at, value.get("coverage", []) != covered))
        done, covered = completed, value.get("coverage", [])
    return landed


def segment_rows(binary, source, repeat):
    """The segmented proxy against the one-pass encode, the join's share, the first usable segment at a mid-file
    playhead, and a kill at about 60 % with a resumed generate; runs interleaved, best of the rounds."""
    seconds = probe(source)[0]
    rounds = max(repeat, 2)
    segmented, one_pass, join_share, first_usable, segment_s, segmented_cpu = [], [], [], [], [], []
    one_pass_cpu, ratios = [], []
    for round_ in range(rounds):
        log(f"segments round {round_ + 1}: segmented generate, one-pass transcode, mid-file playhead...")
        events = []
        wall, _, _ = aura_once(binary, source, OUT / "aura-cache-segments", 1200, cpu=segmented_cpu, events=events)
        segmented.append(wall)
        joining = next((at for at, value in events if str(value.get("message", "")).startswith("Joining")), None)
        if joining is not None:
            join_share.append((wall - joining) / wall)
        landed = segment_times(events)
        video = [b - a for (a, _), (b, is_video) in zip([(0, False)] + landed, landed) if is_video]
        segment_s.append(sorted(video)[len(video) // 2] if video else float("nan"))
        output = OUT / "proxy-one-pass.mp4"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        run([str(binary), "transcode", "--quality", "Preview", str(source), str(output)])
        one_pass.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        one_pass_cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        ratios.append(segmented[-1] / one_pass[-1])
        first_usable.append(mid_file_first_segment(binary, source, seconds))
    segment = min(segment_s)
    print(f"Segmented proxies ({source.name}, {seconds:.0f} s, Preview; best of {rounds} interleaved rounds, and of "
          f"{rounds} kills)\n")
    print("| row | value | reference | ratio | goal |")
    print("|---|---|---|---|---|")
    ratio = min(segmented) / min(one_pass)
    print(f"| segmented generate, whole proxy | {min(segmented):.1f} s | one-pass `aura-media transcode` "
          f"{min(one_pass):.1f} s | {ratio:.2f}x | <= 1.05x: {'met' if ratio <= 1.05 else 'MISSED'} |")
    # The same two in CPU seconds (user + system, best of the rounds) and as the ratio within each round (the two runs
    # back to back): on this shared machine a run's speed moves by up to 15 % with the neighbours' load, and CPU
    # time, though it moves too, measures the work rather than the idle cores.
    cpu_ratio = min(segmented_cpu) / min(one_pass_cpu)
    print(f"| segmented generate, whole proxy, CPU | {min(segmented_cpu):.1f} CPU s | one-pass {min(one_pass_cpu):.1f} "
          f"CPU s | {cpu_ratio:.2f}x | <= 1.05x: {'met' if cpu_ratio <= 1.05 else 'MISSED'} |")
    within = sorted(ratios)[len(ratios) // 2]
    print(f"| segmented generate, whole proxy, the ratio within each round | {', '.join(f'{r:.2f}' for r in ratios)} "
          f"| the round's one-pass transcode | median {within:.2f}x | <= 1.05x: {'met' if within <= 1.05 else 'MISSED'} |")
    share = min(join_share) if join_share else float("nan")
    print(f"| joining (from its first report to the end) | {share * min(segmented):.2f} s | the whole generate "
          f"| {share * 100:.1f} % | <= 5 %: {'met' if share <= 0.05 else 'MISSED'} |")
    first = min(first_usable)
    print(f"| first usable segment at a mid-file playhead, cold cache | {first:.1f} s | one video segment's encode "
          f"(median) {segment:.1f} s | {first / segment:.2f}x | <= 2x: {'met' if first <= 2 * segment else 'MISSED'} |")
    # Best of the rounds here too, as for the uninterrupted generate it is held against: one run against the best of
    # several would count the machine's noise as extra work.
    kills = [killed_and_resumed(binary, source, min(segmented), min(segmented_cpu)) for _ in range(rounds)]
    extra, _, resumed, finished, video_segments = min(kills, key=lambda kill: kill[0])
    extra_cpu = min(kill[1] for kill in kills)
    print(f"| kill -9 at ~60 % and a resumed generate, wall | extra {extra:.1f} s ({resumed} parts resumed of {finished} "
          f"finished) | one video segment's encode {segment:.1f} s | {extra / segment:.2f} segments "
          f"| <= 1 segment: {'met' if extra <= segment and resumed == finished else 'MISSED'} |")
    # The same in CPU seconds (both processes, against the uninterrupted generate's): what was encoded twice, plus
    # the second process's planning and checks, and far less exposed to other load on the machine than wall time.
    per_segment = min(segmented_cpu) / video_segments
    print(f"| kill -9 at ~60 % and a resumed generate, CPU | extra {extra_cpu:.1f} CPU s | one video segment's share "
          f"of the uninterrupted generate's {min(segmented_cpu):.0f} CPU s: {per_segment:.1f} | "
          f"{extra_cpu / per_segment:.2f} segments | <= 1 segment: {'met' if extra_cpu <= per_segment else 'MISSED'} |")


def mid_file_first_segment(binary, source, seconds):
    """Seconds from a background `generate` with `startTime` at mid-file (cold cache) to the first report whose
    coverage holds that time."""
    cache = OUT / "aura-cache-mid"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    middle = seconds / 2
    reached = threading.Event()
    t0 = [0.0]
    at = [None]

    def noted(method, params):
        if method != "$/progress" or params.get("token") != "mid":
            return
        for start, end in params["value"].get("coverage", []):
            if start <= middle < end and at[0] is None:
                at[0] = time.perf_counter() - t0[0]
                reached.set()

    with open(OUT / "aura-serve.log", "ab") as server_log:
        client = AuraMediaClient([str(binary), "serve", "--cache-dir", str(cache), "--log-level", "warning"],
                                 on_notification=noted, stderr=server_log)
        try:
            client.initialize()
            t0[0] = time.perf_counter()
            client.request("generate", {"sourcePath": str(source), "quality": "Preview", "startTime": middle,
                                        "workDoneToken": "mid"}, 60)
            if not reached.wait(600):
                raise RuntimeError("the segment at the playhead never landed")
        finally:
            client.process.kill()
            client.process.wait()
    return at[0]


def killed_and_resumed(binary, source, uninterrupted, uninterrupted_cpu):
    """kill -9 at about 60 % of a generate, then a resumed one on the same cache: (extra seconds and extra CPU
    seconds over an uninterrupted generate, parts resumed, parts finished at the kill, video segments)."""
    cache = OUT / "aura-cache-kill"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    state = {"finished": 0, "count": 0}
    reached = threading.Event()

    def noted(method, params):
        if method == "$/progress" and params.get("token") == "kill":
            value = params["value"]
            state["finished"] = max(state["finished"], value.get("segmentsCompleted", 0))
            state["count"] = max(state["count"], value.get("segmentCount", 0))
            if value.get("percentage", 0) >= 60:
                reached.set()

    with open(OUT / "aura-serve.log", "ab") as server_log:
        first = AuraMediaClient([str(binary), "serve", "--cache-dir", str(cache), "--log-level", "warning"],
                                on_notification=noted, stderr=server_log)
        first.initialize()
        cpu0 = cpu_seconds(first.process.pid)
        t0 = time.perf_counter()
        first.request("generate", {"sourcePath": str(source), "quality": "Preview", "workDoneToken": "kill"}, 60)
        if not reached.wait(1200):
            raise RuntimeError("the job never reached 60 %")
        cpu_first = cpu_seconds(first.process.pid) - cpu0
        first.process.kill()
        first.process.wait()
        before = time.perf_counter() - t0
        finished = state["finished"]
        second = AuraMediaClient([str(binary), "serve", "--cache-dir", str(cache), "--log-level", "warning"],
                                 stderr=server_log)
        try:
            second.initialize()
            cpu1 = cpu_seconds(second.process.pid)
            t1 = time.perf_counter()
            result = second.request("generate", {"sourcePath": str(source), "quality": "Preview",
                                                 "backgroundGeneration": False}, 1200)
            after = time.perf_counter() - t1
            cpu_second = cpu_seconds(second.process.pid) - cpu1
        finally:
            second.close()
    # segmentCount counts the audio part too.
    return (before + after - uninterrupted, cpu_first + cpu_second - uninterrupted_cpu,
            result.get("resumedSegments", 0), finished, max(1, state["count"] - 1))


# -- footage as professionals shoot it (issue 18) ----------------------------------------------------------
def cached_source(name, command):
    """bench/out/<name>, made by the ffmpeg CLI `command` (output path appended) when missing."""
    path = OUT / name
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        log(f"making {name}...")
        partial = path.with_name(path.stem + ".partial" + path.suffix)
        run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *command, str(partial)])
        partial.rename(path)
    return path


def footage_rows(binary, repeat):
    """Three ratios measured in one run: tone mapping (4K HLG 10-bit against the same stream tagged SDR),
    deinterlacing (1080i50 against the same pictures as 1080p25), and the 4K path (a Preview proxy of 4K HEVC
    10-bit against the CLI's decode-only time of the same file)."""
    seconds = 8
    picture = f"testsrc2=s=3840x2160:r=25:d={seconds},noise=alls=3:allf=t,format=yuv420p10le"
    hlg = cached_source(f"source-2160p25-{seconds}s-hevc10-hlg.mp4", [
        "-f", "lavfi", "-i", picture, "-c:v", "libx265", "-preset", "ultrafast",
        "-x265-params", "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
        "-b:v", "40M", "-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc"])
    # The same bitstream, its VUI retagged BT.709: identical decoding work, no tone mapping.
    sdr = cached_source(f"source-2160p25-{seconds}s-hevc10-sdr.mp4", [
        "-i", str(hlg), "-c", "copy",
        "-bsf:v", "hevc_metadata=colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1"])
    moving = f"testsrc2=s=1920x1080:r=50:d={seconds},noise=alls=3:allf=t"
    interlaced = cached_source(f"source-1080i50-{seconds}s.mp4", [
        "-f", "lavfi", "-i", moving, "-vf", "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264",
        "-preset", "veryfast", "-b:v", "15M", "-flags", "+ildct+ilme", "-x264-params", "tff=1", "-pix_fmt", "yuv420p"])
    progressive = cached_source(f"source-1080p25-{seconds}s-from50.mp4", [
        "-f", "lavfi", "-i", moving, "-vf", "fps=25", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "15M",
        "-pix_fmt", "yuv420p"])

    def aura(source):
        cpu = []
        wall = aura_once(binary, source, OUT / "aura-cache-footage", 600, cpu)[0]
        return wall, cpu[0]

    def decode_only(source):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(source), "-map", "0:v", "-f", "null", "-"])
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    # The runs are interleaved (one of each per round, best of the rounds kept), so a change in the machine's load
    # between rounds affects both sides of a ratio alike. CPU time (the server's during the request, the CLI's
    # whole) is shown beside wall time: on a shared machine it moves less with the neighbours' load.
    runs = {"hlg": lambda: aura(hlg), "sdr": lambda: aura(sdr), "interlaced": lambda: aura(interlaced),
            "progressive": lambda: aura(progressive), "decode": lambda: decode_only(sdr)}
    times, cpus = {}, {}
    for round_ in range(max(repeat, 3)):
        log(f"footage round {round_ + 1}: 4K HLG, 4K SDR, 1080i, 1080p, decode only...")
        for name, once in runs.items():
            wall, cpu = once()
            times[name] = min(times.get(name, wall), wall)
            cpus[name] = min(cpus.get(name, cpu), cpu)
    rows = [
        ("Preview proxy of 4K HEVC 10-bit HLG (tone-mapped)", "hlg", "the same stream tagged SDR", "sdr", 1.15),
        ("Preview proxy of 1080i50 (deinterlaced)", "interlaced", "the same pictures as 1080p25", "progressive", 1.15),
        ("Preview proxy of 4K HEVC 10-bit (SDR)", "sdr", "the CLI decoding it (`-f null`)", "decode", 1.25),
    ]
    print(f"Footage ({seconds} s sources, best of {max(repeat, 3)} interleaved rounds; each ratio against a reference "
          f"measured in this run; the goals are on wall time)\n")
    print("| row | wall s | reference | reference s | ratio | CPU s | reference CPU s | CPU ratio | goal |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, key, reference, reference_key, goal in rows:
        ratio = times[key] / times[reference_key]
        print(f"| {name} | {times[key]:.1f} | {reference} | {times[reference_key]:.1f} | {ratio:.2f}x "
              f"| {cpus[key]:.1f} | {cpus[reference_key]:.1f} | {cpus[key] / cpus[reference_key]:.2f}x "
              f"| <= {goal:.2f}x: {'met' if ratio <= goal else 'MISSED'} |")

if __name__ == "__main__":
    sys.exit(main())
