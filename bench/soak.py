#!/usr/bin/env python3
"""Soak test (not in CI): --minutes (default 30) of mixed editor traffic from several clients, with each server's
RSS, open file descriptors and threads sampled every --sample-seconds (default 60) and judged flat or growing.

  python3 bench/soak.py [--minutes 30] [--clients 4] [--seed N] [--binary PATH]   (bench/soak builds first)

Setup (in a temporary directory; --fixtures DIR keeps the media between runs): short fixtures made with the ffmpeg CLI — 20 s 720p25, 30 s 1080p30 and 30 s
1080p25 (with grain) H.264 + AAC clips and a 60 s stereo FLAC — and one `aura-media serve` per client (--clients),
all on ONE proxy cache, waveform cache, frame cache directory and config directory: several editor windows on one
cache (protocol/spec.md §10.7). Each server gets `frameCacheBytes` = --frame-cache-mib in its initializationOptions
so the frame cache fills up during the warm-up instead of creeping towards the 100 MiB default for half an hour.

Traffic: each client drives its server from --lanes concurrent loops (seeded by --seed), each picking at random:
  generate (Draft/Preview/High, mostly background, sometimes foreground, overwrite, a priority or scalePercent 50),
  cancelGeneration (of a job this client started, by jobId, or by slot), requestFrame (random times, sizes, formats,
  accurate false, file delivery), scrubbing bursts, setPlayhead, telemetry/report, requestWaveformRange (random
  ranges and resolutions, visible ranges, streamed windows consumed, sometimes cancelled after the first window),
  exportWaveform, updateSettings (maxConcurrentJobs 1/2, cacheLimitBytes 8 MiB to force evictions or back to 10 GiB,
  frameCacheBytes, telemetryWindowSeconds, defaultQuality, scalePercent, hardwareAcceleration), getSettings,
  setQuality, status, resolve, stats, getMetricsSummary, probe, ping, now and then clearCache (every scope) and
  importMedia. Expected errors (a foreground generate whose job was cancelled -32800 or replaced -32801, a slot
  without a job -32020, an audio-only file asked for a proxy or a picture -32009) are counted and the loop goes on.
  Failures: a server that dies, a protocol violation (a malformed message, a response to an unknown id, job
  progress after its `end` or going backwards, a waveform stream whose windows do not match its summary, a result
  missing what the spec promises), an unexpected error code, a failed proxy job, or a shutdown that does not end
  with exit status 0. Each server's stderr goes to server-N.stderr.log in the temporary directory (kept when the
  run fails, or with --keep); warnings and errors found there are summarised after the table.

Sampling: at the start (servers initialized, no traffic yet), then every --sample-seconds and at the end, for each
server: VmRSS and Threads from /proc/PID/status, entries of /proc/PID/fd, and its frame cache bytes (`stats`); with
the machine's load average (a soak on a shared machine is slower, not leakier). Thread names and descriptor targets
are kept too: when fds or threads grow, the verdict says which. Round trips over 5 s go to slow-requests.log.

Flatness (printed as the verdict): of the samples after the warm-up (--warmup-seconds, by default the first third of
the run: the bounded caches and pools — frame cache, pyramids in memory, warm decoders — fill during it, and RSS
with them), the first half is compared with the second half, server by server: the median RSS, and the lowest counts
of open descriptors and of threads outside jobs and pools (their floor: a leak raises it, while a job or a decoder
busy at the moment of a sample only adds a peak). Threads that come and go with work (named aura-job, aura-wave,
aura-preload and aura-blocking, with the encoder and decoder threads they start) are judged at idle instead: after
the traffic each server's proxy jobs are waited for, its warm decoders closed (clearCache frames) and, 15 s later,
the `idle` row is sampled; its threads and descriptors must be back within 4 and 5 of the row before any traffic. A
server is GROWING when its RSS grew by at least 50 MiB *and* at least 20 %, its descriptors by more than 5 or its
threads outside jobs and pools by more than 4, or when it is not back at idle. The exit status is 1 when anything
grew or failed (above), 0 otherwise.
"""
import argparse
import asyncio
import collections
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "clients" / "python"))
from aura_media import AuraMedia, AuraMediaError, ServerExited  # noqa: E402

MIB = 1 << 20
QUALITIES = ("Draft", "Preview", "High")
CANCELLED, REPLACED, SERVER_CANCELLED = -32800, -32801, -32802
UNSUPPORTED, JOB_NOT_FOUND = -32009, -32020
ERROR_NAMES = {
    -32700: "ParseError", -32600: "InvalidRequest", -32601: "MethodNotFound", -32602: "InvalidParams",
    -32603: "InternalError", -32002: "ServerNotInitialized", -32800: "RequestCancelled", -32801: "ContentModified",
    -32802: "ServerCancelled", -32803: "RequestFailed", -32001: "fileNotFound", -32003: "notARegularFile",
    -32004: "permissionDenied", -32005: "emptyFile", -32006: "notMedia", -32007: "truncatedMedia",
    -32008: "corruptMedia", -32009: "unsupportedMedia", -32010: "diskFull", -32011: "ioError", -32020: "jobNotFound",
    -32021: "cacheDirectoryRejected", -32022: "generationFailed",
}
RECORD_STATUSES = {"none", "queued", "generating", "completed", "failed", "cancelled", "stale"}
JOB_STATUSES = {"queued", "generating", "completed", "failed", "cancelled"}
# Flatness thresholds (see the docstring).
RSS_GROWTH_MIB, RSS_GROWTH_FRACTION, FD_GROWTH, THREAD_GROWTH = 50, 0.20, 5, 4
SLOW_SECONDS = 5  # round trips logged (a foreground generate waits for its job: not logged)


def log(message):
    print(message, file=sys.stderr, flush=True)


# -- fixtures ---------------------------------------------------------------------------------------------------
VIDEO_FIXTURES = [
    # name, seconds, lavfi video source, extra video filter, video bit rate
    ("clip-720p25.mp4", 20, "testsrc2=s=1280x720:r=25", None, "3M"),
    ("clip-1080p30.mp4", 30, "testsrc2=s=1920x1080:r=30", None, "6M"),
    ("clip-1080p25-grain.mp4", 30, "testsrc=s=1920x1080:r=25", "noise=alls=6:allf=t", "8M"),
]
AUDIO_FIXTURE = ("tone-60s.flac", 60)


class Media:
    def __init__(self, path, video_end=None, audio_end=None):
        self.path, self.video_end, self.audio_end = str(path), video_end, audio_end


def make_fixtures(directory):
    """The fixtures in `directory`, made unless they are there (each is written under a partial name first)."""
    directory.mkdir(parents=True, exist_ok=True)
    quiet = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]

    def make(name, arguments):
        if not (directory / name).exists():
            log(f"making {name} ...")
            partial = directory / f".partial-{name}"  # hidden: importMedia skips it
            subprocess.run([*quiet, *arguments, str(partial)], check=True)
            partial.rename(directory / name)

    for name, seconds, source, video_filter, bit_rate in VIDEO_FIXTURES:
        make(name, ["-f", "lavfi", "-i", f"{source}:d={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                    *(["-vf", video_filter] if video_filter else []),
                    "-c:v", "libx264", "-preset", "veryfast", "-b:v", bit_rate, "-pix_fmt", "yuv420p",
                    "-g", "50", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-shortest", "-f", "mp4"])
    name, seconds = AUDIO_FIXTURE
    make(name, ["-f", "lavfi", "-i",
                f"aevalsrc=0.3*sin(2*PI*440*t)|0.3*sin(2*PI*(330+30*sin(t))*t):s=48000:d={seconds}",
                "-c:a", "flac", "-f", "flac"])
    return [directory / entry[0] for entry in VIDEO_FIXTURES] + [directory / name]


async def describe(session, path):
    """Where the picture and audio times of a fixture end (from `probe`), a little inside the end."""
    info = await session.probe(str(path))
    container = info.get("durationSeconds")
    ends = {}
    for stream in info["streams"]:
        if stream["type"] in ("video", "audio") and stream["type"] not in ends:
            ends[stream["type"]] = min(x for x in (stream.get("durationSeconds"), container) if x is not None)
    video, audio = ends.get("video"), ends.get("audio")
    return Media(path, video and video - 0.05, audio and audio - 0.05)


# -- one server, watched ----------------------------------------------------------------------------------------
class Session(AuraMedia):
    """The asyncio client, with the server's stderr going straight to a file and every incoming message checked."""

    def __init__(self, process, index, soak):
        self.index, self.soak = index, soak
        self.cancelled_ids = set()
        self.job_tokens = {}                           # live job progress token -> [last percentage, trail]
        self.ended_tokens = collections.OrderedDict()  # recently ended tokens (progress after `end` is a violation)
        super().__init__(process)

    async def _drain_stderr(self):
        return  # stderr is a file (see start_server)

    def _cancel_request(self, request_id):
        self.cancelled_ids.add(request_id)
        super()._cancel_request(request_id)

    def _dispatch(self, message):
        try:
            self._check(message)
        except Exception as error:  # a message too malformed to check is a violation too
            self.soak.violation(self.index, f"unreadable message {str(message)[:200]}: {error!r}")
        super()._dispatch(message)

    def _check(self, message):
        violation = lambda text: self.soak.violation(self.index, text)  # noqa: E731
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return violation(f"not a JSON-RPC 2.0 message: {str(message)[:200]}")
        if "id" in message and ("result" in message or "error" in message):
            if "result" in message and "error" in message:
                violation(f"response {message['id']} has both result and error")
            if message["id"] not in self._pending and message["id"] not in self.cancelled_ids:
                violation(f"response to an id not in flight: {str(message)[:200]}")
            error = message.get("error")
            if error is not None and not (isinstance(error.get("code"), int) and isinstance(error.get("message"), str)):
                violation(f"malformed error object {error}")
            return
        method, params = message.get("method"), message.get("params")
        if method == "$/progress":
            token = params["token"]
            if isinstance(token, str) and token.startswith("partial-"):
                return  # waveform windows: checked where they are consumed
            self._job_progress(token, params["value"], violation)
        elif method == "window/logMessage":
            if params.get("type") not in (1, 2, 3, 4) or not isinstance(params.get("message"), str):
                return violation(f"malformed window/logMessage {params}")
            self.soak.log_messages[params["type"]] += 1
            if params["type"] <= 2:
                self.soak.notable_log_messages[(params["type"], normalise(params["message"]))] += 1
        elif method == "previewModeChanged":
            if params.get("mode") not in ("proxy", "source") or params.get("quality") not in QUALITIES:
                violation(f"malformed previewModeChanged {params}")
        else:
            violation(f"unexpected message {str(message)[:200]}")

    def _job_progress(self, token, value, violation):
        kind = value.get("kind")
        if token in self.ended_tokens:
            return violation(f"job progress on token {token} after its end: {value}")
        percentage = value.get("percentage")
        if percentage is not None and not (isinstance(percentage, int) and 0 <= percentage <= 100):
            violation(f"job progress percentage {percentage!r} on token {token}")
        state = self.job_tokens.setdefault(token, [None, collections.deque(maxlen=4)])
        trail = " → ".join(state[1])
        state[1].append(f"{kind} {percentage} {value.get('message', '')!r}"[:90])
        if kind == "begin":
            if state[0] is not None:
                violation(f"second begin on token {token} (after {trail})")
            state[0] = percentage or 0
        elif kind == "report":
            if percentage is not None:
                if percentage < (state[0] or 0):
                    violation(f"job progress on a token went back from {state[0]} to {percentage}: "
                              f"{trail} → {state[1][-1]}")
                state[0] = percentage
        elif kind == "end":
            self.job_tokens.pop(token, None)
            self.ended_tokens[token] = True
            while len(self.ended_tokens) > 5000:
                self.ended_tokens.popitem(last=False)
            outcome = value.get("outcome")
            if outcome not in ("completed", "failed", "cancelled"):
                return violation(f"job end with outcome {outcome!r}: {value}")
            code = (value.get("error") or {}).get("code")
            self.soak.job_outcomes[outcome if code != REPLACED else "cancelled (replaced)"] += 1
            if outcome != "completed" and not isinstance(code, int):
                violation(f"job end {outcome} without an error object: {value}")
            if outcome == "failed":
                self.soak.failure(f"server {self.index}: a proxy job failed: {value.get('error')}")
        else:
            violation(f"job progress of kind {kind!r}: {value}")


def normalise(text):
    """A log line or message with its variable parts (times, ids, numbers, paths) blurred, for counting."""
    text = re.sub(r"/\S+", "<path>", text)
    text = re.sub(r"job-[0-9a-f]+", "job-…", text)
    text = re.sub(r"\b[0-9a-f]{16}\b", "<fingerprint>", text)
    return re.sub(r"\d+(\.\d+)?", "N", text)[:240]


# -- one client (an editor window) --------------------------------------------------------------------------------
class Client:
    def __init__(self, soak, session, seed):
        self.soak, self.session, self.index = soak, session, session.index
        self.rng = random.Random(seed)
        self.jobs = []         # ids of queued/generating jobs this client started
        self.foreground = 0    # foreground generates in flight
        self.current = {}      # lane -> the operation it is running
        self.export_path = str(soak.directory / f"export-{self.index}.dat")
        self.operations = [
            (26, self.frame), (6, self.scrub), (4, self.playhead), (4, self.telemetry), (18, self.waveform),
            (9, self.generate), (3, self.cancel), (4, self.status), (3, self.resolve), (3, self.stats),
            (2, self.get_settings), (3, self.update_settings), (2, self.set_quality), (2, self.metrics),
            (1, self.clear_cache), (1, self.export_waveform), (2, self.probe), (2, self.ping), (0.3, self.import_media),
        ]

    async def lane(self, number):
        rng = random.Random(f"{self.rng.random()}-{number}")
        weights = [weight for weight, _ in self.operations]
        while not self.soak.stop.is_set():
            operation = rng.choices([op for _, op in self.operations], weights)[0]
            self.current[number] = operation.__name__
            try:
                await operation(rng)
            except ServerExited as error:
                self.soak.died(self.index, str(error))
                return
            except (KeyError, TypeError, AttributeError, AssertionError) as error:
                self.soak.violation(self.index, f"{operation.__name__}: unexpected result ({error!r})")
            self.current.pop(number, None)
            await asyncio.sleep(rng.uniform(0.02, 0.3))

    async def call(self, method, call, allowed=(), started=None, detail=""):
        """Awaits a request (sent at `started`, default now), counting it, its error and its round trip; returns
        the result or None after an error. Round trips over SLOW_SECONDS go to slow-requests.log (with `detail`)."""
        soak = self.soak
        soak.requests += 1
        soak.requests_by_method[method] += 1
        started = started or time.perf_counter()
        try:
            return await call
        except AuraMediaError as error:
            soak.errors += 1
            soak.errors_by_code[error.code][method] += 1
            if error.code not in allowed and not (soak.stop.is_set() and error.code == SERVER_CANCELLED):
                soak.unexpected(self.index, method, error)
            return None
        finally:
            elapsed = time.perf_counter() - started
            soak.latencies[method].append(elapsed)
            if elapsed > SLOW_SECONDS and not (method == "generate" and "foreground" in detail):
                soak.slow(self.index, method, call.id, elapsed, detail)

    # -- pictures
    async def frame(self, rng, media=None, time_=None, width=None):
        soak = self.soak
        if media is None and rng.random() < 0.02:  # a picture of an audio-only file: -32009
            await self.call("requestFrame", self.session.request_frame(soak.audio_only.path, 1.0), (UNSUPPORTED,))
            return None
        media = media or rng.choice(soak.videos)
        t = time_ if time_ is not None else rng.uniform(0, media.video_end)
        image_format = rng.choices(["jpeg", "png", "rgba"], [8, 1, 1])[0]
        if width is None:
            width = {"jpeg": rng.choice([None, 160, 320, 320, 640, 960]), "png": rng.choice([160, 320, 640]),
                     "rgba": 160}[image_format]
        delivery = "file" if rng.random() < 0.15 else None
        accurate = False if rng.random() < 0.25 else None
        quality = rng.choice([None, 60, 90]) if image_format == "jpeg" else None
        started = time.perf_counter()
        result = await self.call("requestFrame", self.session.request_frame(
            media.path, t, width=width, format=image_format if image_format != "jpeg" else None, quality=quality,
            accurate=accurate, delivery=delivery),
            detail=f"{Path(media.path).name} t={t:.3f} width={width} {image_format} accurate={accurate is None} "
                   f"{delivery or 'inline'}")
        if result is None:
            return None
        assert result["format"] == image_format and result["width"] > 0 and result["height"] > 0, result
        assert width is None or result["width"] == width, (width, result["width"])
        assert (result.get("path") if delivery == "file" else result.get("data")), "no picture in the result"
        return (time.perf_counter() - started) * 1000, result["fromCache"]

    async def scrub(self, rng):
        """A drag along the timeline: 8-16 pictures a few frames apart, then a paused playhead there."""
        media = rng.choice(self.soak.videos)
        t = rng.uniform(0, media.video_end)
        step = rng.choice([-1, 1]) * rng.choice([0.04, 0.1, 0.25])
        for _ in range(rng.randint(8, 16)):
            t = min(max(t + step, 0), media.video_end)
            measured = await self.frame(rng, media, t, 320)
            if measured and rng.random() < 0.3:
                self.session.report_telemetry(scrub_latency_ms=measured[0], cache_hit=measured[1])
        self.session.set_playhead(media.path, t, 0, width=320)

    async def playhead(self, rng):
        media = rng.choice(self.soak.videos)
        t = rng.uniform(0, media.video_end)
        self.session.set_playhead(media.path, t, rng.choice([1, 1, 0, -1, 2]), width=rng.choice([None, 320, 640]))
        if rng.random() < 0.5:  # then read what it is preloading
            for i in range(rng.randint(1, 6)):
                await self.frame(rng, media, min(t + i * 0.04, media.video_end), 320)

    async def telemetry(self, rng):
        self.session.report_telemetry(playback_fps=rng.uniform(18, 60), dropped_frames=rng.randint(0, 3),
                                      scrub_latency_ms=rng.uniform(2, 80), cache_hit=rng.random() < 0.6)

    # -- waveforms
    async def waveform(self, rng):
        media = rng.choice(self.soak.with_audio)
        start = rng.uniform(0, media.audio_end * 0.9)
        end = media.audio_end + 5 if rng.random() < 0.1 else rng.uniform(start + 0.2, media.audio_end)
        resolution = ({"samples_per_pixel": rng.choice([64, 256, 512, 1024, 4096, 16384])} if rng.random() < 0.7
                      else {"pixels_per_second": rng.choice([20, 100, 400])})
        visible = {}
        if rng.random() < 0.5:
            visible_start = rng.uniform(start, end)
            visible = {"visible_start": visible_start, "visible_end": min(end, visible_start + rng.uniform(1, 8))}
        stream = rng.random() < 0.85
        started = time.perf_counter()
        call = self.session.request_waveform_range(
            media.path, start, end, channels=rng.choice([None, "all"]), encoding=rng.choice([None, "base64"]),
            window_seconds=rng.choice([None, 0.5, 2, 5]), stream=stream, **resolution, **visible)
        if not stream:
            result = await self.call("requestWaveformRange", call)
            if result is not None:
                assert len(result["windows"]) == result["windowCount"], "windows do not match windowCount"
            return
        cancel_early = rng.random() < 0.2
        indexes = []
        async for window in call:
            assert window["endTime"] > window["startTime"] and window["channelCount"] >= 1, window
            indexes.append(window["index"])
            if cancel_early and not call.done():  # the user scrolled on: cancel after the first window
                call.cancel()
                self.soak.requests += 1
                self.soak.requests_by_method["requestWaveformRange"] += 1
                self.soak.client_cancels += 1
                return
        summary = await self.call("requestWaveformRange", call, started=started,
                                  detail=f"{Path(media.path).name} {start:.2f}-{end:.2f} {resolution}")
        if summary is not None and sorted(indexes) != list(range(summary["windowCount"])):
            self.soak.violation(self.index, f"waveform stream sent windows {sorted(indexes)[:20]}… for a summary "
                                            f"of {summary['windowCount']}")

    async def export_waveform(self, rng):
        media = rng.choice(self.soak.with_audio)
        await self.call("exportWaveform", self.session.export_waveform(
            media.path, self.export_path, format=rng.choice([None, "json"]),
            samples_per_pixel=rng.choice([None, 512, 1000]), bits=rng.choice([None, 8])))

    # -- proxies
    async def generate(self, rng):
        soak = self.soak
        if rng.random() < 0.03:  # an audio-only file has no proxy: -32009
            await self.call("generate", self.session.generate(soak.audio_only.path), (UNSUPPORTED,))
            return
        media = rng.choice(soak.videos)
        background = self.foreground > 0 or rng.random() < 0.8
        call = self.session.generate(
            media.path, quality=rng.choice(QUALITIES), background_generation=background,
            priority=rng.choice([None, 0, 1, 5]), overwrite=True if rng.random() < 0.15 else None,
            scale_percent=50 if rng.random() < 0.05 else None)
        if background:
            result = await self.call("generate", call)
            if result is not None:
                # A clip no larger than the quality's box (720p at Preview or High, 1080p at High) needs no proxy.
                assert result["status"] in ("queued", "generating", "completed", "notNeeded"), result
                assert ("proxy" in result) == (result["status"] == "completed"), result
                assert ("reason" in result) == (result["status"] == "notNeeded"), result
                if result["status"] not in ("completed", "notNeeded"):
                    self.jobs = [job for job in self.jobs if job != result["jobId"]][-30:] + [result["jobId"]]
            return
        self.foreground += 1
        try:
            result = await self.call("generate", call, (CANCELLED, REPLACED), detail="foreground")
        finally:
            self.foreground -= 1
        if result is not None:
            assert result["status"] == "notNeeded" or result["proxy"]["status"] == "completed", result

    async def cancel(self, rng):
        if self.jobs and rng.random() < 0.75:
            job = self.jobs.pop(rng.randrange(len(self.jobs)))
            result = await self.call("cancelGeneration", self.session.cancel_generation(job_id=job))
            if result is not None:
                assert result["jobId"] == job and result["status"] in ("completed", "failed", "cancelled"), result
                assert not result["cancelled"] or result["status"] == "cancelled", result
            return
        media = rng.choice(self.soak.videos)
        result = await self.call("cancelGeneration", self.session.cancel_generation(
            source_path=media.path, quality=rng.choice(QUALITIES)), (JOB_NOT_FOUND,))
        if result is not None:
            assert result["status"] in JOB_STATUSES, result

    async def status(self, rng):
        result = await self.call("status", self.session.status(rng.choice(self.soak.videos).path,
                                                                rng.choice(QUALITIES)))
        if result is not None:
            assert result["status"] in RECORD_STATUSES, result

    async def resolve(self, rng):
        result = await self.call("resolve", self.session.resolve(rng.choice(self.soak.videos).path))
        if result is not None:
            # notNeeded: no record, and the clip is no larger than the quality's box (720p at Preview or High, ...).
            assert isinstance(result["usingProxy"], bool) and result["proxyStatus"] in RECORD_STATUSES | {"notNeeded"}, result

    async def stats(self, rng):
        result = await self.call("stats", self.session.stats())
        if result is not None:
            assert set(result["byQuality"]) == set(QUALITIES) and "frameCache" in result, result

    async def clear_cache(self, rng):
        media = rng.choice(self.soak.videos)
        result = await self.call("clearCache", self.session.clear_cache(
            scope=rng.choice(["proxies", "waveforms", "frames", "all"]),
            source_path=media.path if rng.random() < 0.4 else None))
        if result is not None:
            assert all(isinstance(result[key], int) for key in ("deletedFiles", "freedBytes", "keptInUse")), result

    async def import_media(self, rng):
        result = await self.call("importMedia", self.session.import_media([str(self.soak.media_directory)],
                                                                          quality=rng.choice(QUALITIES)))
        if result is not None:
            assert all(item["status"] == "imported" for item in result["items"]), result

    # -- settings and the rest
    async def get_settings(self, rng):
        result = await self.call("getSettings", self.session.get_settings())
        if result is not None:
            assert 1 <= result["maxConcurrentJobs"] <= 16, result

    async def update_settings(self, rng):
        budget = self.soak.frame_cache_bytes
        choices = {
            "maxConcurrentJobs": lambda: rng.choice([1, 2]),
            "cacheLimitBytes": lambda: rng.choice([10 << 30, 10 << 30, 8 * MIB]),  # 8 MiB forces evictions
            "frameCacheBytes": lambda: rng.choice([budget, budget, budget // 4]),
            "telemetryWindowSeconds": lambda: rng.choice([30, 60]),
            "defaultQuality": lambda: rng.choice(QUALITIES),
            "scalePercent": lambda: rng.choice([None, None, None, 50]),
            "hardwareAcceleration": lambda: rng.choice(["off"] * 9 + ["auto"]),
        }
        patch = {name: choices[name]() for name in rng.sample(sorted(choices), rng.randint(1, 3))}
        result = await self.call("updateSettings", self.session.request("updateSettings", {"settings": patch}))
        if result is not None:
            for name, value in patch.items():
                assert result.get(name) == value, (name, value, result.get(name))

    async def set_quality(self, rng):
        mode = rng.choice(["proxy", "proxy", "source"])
        result = await self.call("setQuality", self.session.set_quality(mode, rng.choice([None, *QUALITIES])))
        if result is not None:
            assert result["mode"] == mode, result

    async def metrics(self, rng):
        result = await self.call("getMetricsSummary", self.session.get_metrics_summary())
        if result is not None:
            assert "methods" in result and "status" in result, result

    async def probe(self, rng):
        result = await self.call("probe", self.session.probe(rng.choice(self.soak.media).path))
        if result is not None:
            assert result["streams"], result

    async def ping(self, rng):
        echo = rng.randint(0, 1 << 30)
        result = await self.call("ping", self.session.ping(echo=echo))
        if result is not None:
            assert result.get("echo") == echo, result


# -- the run ------------------------------------------------------------------------------------------------------
# One server at one sample: RSS (MiB), open descriptors, threads, threads of running jobs (proxy jobs, waveform
# analyses, preloading: the job thread and the encoder/decoder threads it starts, all named after the queue), the
# frame cache (MiB, None when `stats` failed), and Counters of thread names and of what the descriptors point at.
Measure = collections.namedtuple("Measure", "rss fds threads job_threads frame_cache names targets")
# Threads that come and go with work: jobs' threads, the blocking pool's (which end after 10 s idle) and the
# decoder threads libav starts from them (they take the name of the thread that opened the decoder, and live as
# long as its warm session). Judged at idle, after the traffic (see `Soak.settle`).
JOB_THREAD_NAMES = ("aura-job", "aura-wave", "aura-preload", "aura-blocking")
IDLE_SECONDS = 15  # past BlockingQueue.idleSeconds (10 s)


class Sample:
    def __init__(self, seconds, servers, requests, errors, unexpected, load):
        self.seconds, self.servers = seconds, servers  # servers: a Measure per server, None when it is gone
        self.requests, self.errors, self.unexpected = requests, errors, unexpected
        self.load = load  # the machine's 1-minute load average (the run may share the machine)


def read_proc(pid, directory):
    """A Measure of a process (frame cache None), or None when it is gone. Thread names and descriptor targets are
    blurred (paths relative to `directory`, ids as <id>) to say what grew when something did."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        targets = collections.Counter()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith(str(directory)):
                target = target[len(str(directory)) + 1:]
            targets[re.sub(r"\[\d+\]$", "", re.sub(r"[0-9a-f]{12,}", "<id>", target))] += 1
        names = collections.Counter()
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                names[re.sub(r"\d+", "N", Path(f"/proc/{pid}/task/{task}/comm").read_text().strip())] += 1
            except OSError:
                continue
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields.get("State", "").strip().startswith("Z"):
        return None
    return Measure(int(fields["VmRSS"].split()[0]) / 1024, sum(targets.values()), int(fields["Threads"]),
                   sum(names[name] for name in JOB_THREAD_NAMES), None, names, targets)


class Soak:
    def __init__(self, args):
        self.args = args
        self.directory = Path(tempfile.mkdtemp(prefix="aura-soak-"))
        self.media_directory = Path(args.fixtures).resolve() if args.fixtures else self.directory / "media"
        self.frame_cache_bytes = int(args.frame_cache_mib * MIB)
        self.stop = asyncio.Event()
        self.sessions, self.clients, self.samples = [], [], []
        self.idle_sample = None  # after the traffic, jobs ended and decoders closed (see settle)
        self.requests = self.errors = self.client_cancels = 0
        self.requests_by_method = collections.Counter()
        self.errors_by_code = collections.defaultdict(collections.Counter)
        self.unexpected_errors = collections.Counter()   # (server, method, code, normalised message) -> count
        self.violations = collections.Counter()          # (server, text) -> count
        self.failures = []                               # deaths, failed jobs, bad exit statuses
        self.job_outcomes = collections.Counter()
        self.latencies = collections.defaultdict(list)  # method -> round trips (s)
        self.slow_requests = collections.Counter()       # method -> round trips over SLOW_SECONDS
        self.busy_at_end = collections.Counter()        # operations still running 90 s after the end
        self.media = self.videos = self.with_audio = self.audio_only = None
        self.log_messages = collections.Counter()
        self.notable_log_messages = collections.Counter()

    # -- bookkeeping
    def violation(self, index, text):
        if not self.violations[(index, text[:300])]:
            log(f"protocol violation (server {index}): {text[:300]}")
        self.violations[(index, text[:300])] += 1

    def unexpected(self, index, method, error):
        key = (index, method, error.code, normalise(error.message))
        if not self.unexpected_errors[key]:
            log(f"unexpected error (server {index}): {method} -> {error.code} {error.message[:300]}")
        self.unexpected_errors[key] += 1

    def slow(self, index, method, request_id, seconds, detail):
        self.slow_requests[method] += 1
        with open(self.directory / "slow-requests.log", "a") as file:
            print(f"{time.strftime('%H:%M:%S', time.gmtime(time.time() - seconds))}Z server {index} id {request_id} "
                  f"{method} {seconds:.1f} s {detail}", file=file)

    def failure(self, text):
        log(text)
        self.failures.append(text)

    def died(self, index, text):
        if not any(f.startswith(f"server {index} died") for f in self.failures):
            lines = (self.directory / f"server-{index}.stderr.log").read_text(errors="replace").splitlines()
            self.failure(f"server {index} died: {text}; its last log lines: " + " | ".join(lines[-5:]))
        self.stop.set()

    def unexpected_count(self):
        return sum(self.unexpected_errors.values())

    # -- servers
    async def start_server(self, index):
        shared = self.directory / "shared"
        with open(self.directory / f"server-{index}.stderr.log", "wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                self.args.binary, "serve", "--cache-dir", str(shared / "proxies"),
                "--waveform-cache-dir", str(shared / "waveforms"), "--frame-cache-dir", str(shared / "frames"),
                "--config-dir", str(shared / "config"), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=stderr, limit=1 << 26)
        session = Session(process, index, self)
        self.sessions.append(session)  # before anything can fail: run() kills what is left
        await asyncio.wait_for(session._initialize({"frameCacheBytes": self.frame_cache_bytes}, f"soak-{index}"), 60)

    async def sample(self, seconds, idle=False):
        servers = []
        for session in self.sessions:
            measured = read_proc(session.pid, self.directory) if session._process.returncode is None else None
            if measured is None:
                servers.append(None)
                if not self.stop.is_set() or session._process.returncode not in (None, 0):
                    self.died(session.index, f"process {session.pid} is gone "
                                             f"(status {session._process.returncode})")
                continue
            try:
                stats = await asyncio.wait_for(session.stats(), 30)
                frame_cache = stats["frameCache"]["sizeBytes"] / MIB
            except (AuraMediaError, ServerExited, asyncio.TimeoutError):
                frame_cache = None
            servers.append(measured._replace(frame_cache=frame_cache))
        load = float(Path("/proc/loadavg").read_text().split()[0])
        sample = Sample(seconds, servers, self.requests, self.errors, self.unexpected_count(), load)
        if idle:
            self.idle_sample = sample
        else:
            self.samples.append(sample)
        rss = " / ".join(f"{s.rss:.0f}" if s else "gone" for s in servers)
        log(f"[{'idle' if idle else minute(seconds):>5} min] {self.requests} requests, {self.errors} errors "
            f"({self.unexpected_count()} unexpected); RSS MiB {rss}")

    async def settle(self, started):
        """After the traffic: waits (up to 3 minutes) for each server's proxy jobs to end, closes its warm decoders
        and stops its preloading (clearCache frames), waits IDLE_SECONDS for idle pool threads to end, and takes
        the `idle` sample — where threads and descriptors must be back near the start's (`idle_verdict`)."""
        deadline = time.monotonic() + 180
        for session in self.sessions:
            if session._process.returncode is not None:
                continue
            try:
                while time.monotonic() < deadline:
                    stats = await asyncio.wait_for(session.stats(), 30)
                    if stats["queuedJobs"] + stats["runningJobs"] == 0:
                        break
                    await asyncio.sleep(2)
                else:
                    self.failure(f"server {session.index} still had proxy jobs 3 minutes after the traffic ended")
                await asyncio.wait_for(session.clear_cache(scope="frames"), 60)
            except (AuraMediaError, ServerExited, asyncio.TimeoutError) as error:
                self.failure(f"server {session.index} could not be settled after the traffic: {error!r}")
        await asyncio.sleep(IDLE_SECONDS)
        await self.sample(time.monotonic() - started, idle=True)

    async def sampler(self, started, duration):
        """Samples every --sample-seconds and at `duration`; returns then, or at once (after a last sample) when
        the run is stopped early."""
        next_at = 0.0
        while next_at < duration:
            next_at = min(next_at + self.args.sample_seconds, duration)
            try:
                await asyncio.wait_for(self.stop.wait(), max(0.0, started + next_at - time.monotonic()))
                await self.sample(time.monotonic() - started)  # stopped early (a server died): one last sample
                return
            except asyncio.TimeoutError:
                await self.sample(next_at)

    async def run(self):
        try:
            await self._run()
        finally:  # an error or an interruption: leave no server behind
            for session in self.sessions:
                if session._process.returncode is None:
                    session._process.kill()

    async def _run(self):
        args = self.args
        log(f"soak: {args.clients} clients x {args.lanes} lanes, {args.minutes:g} minutes, seed {args.seed}, "
            f"in {self.directory}")
        paths = await asyncio.to_thread(make_fixtures, self.media_directory)
        for index in range(args.clients):
            await self.start_server(index + 1)
        self.media = [await describe(self.sessions[0], path) for path in paths]
        self.videos = [m for m in self.media if m.video_end]
        self.with_audio = [m for m in self.media if m.audio_end]
        self.audio_only = next(m for m in self.media if not m.video_end)
        seeds = random.Random(args.seed)
        self.clients = [Client(self, session, seeds.random()) for session in self.sessions]

        duration = args.minutes * 60
        await self.sample(0)  # idle, before any traffic
        started = time.monotonic()
        lanes = [asyncio.ensure_future(client.lane(n)) for client in self.clients for n in range(args.lanes)]
        await self.sampler(started, duration)  # returns at the end of the run, or at once when a server died
        self.stop.set()
        log("stopping the clients ...")
        _, pending = await asyncio.wait(lanes, timeout=90)
        if pending:  # e.g. a foreground generate still waiting for its job
            for client in self.clients:
                self.busy_at_end.update(client.current.values())
            for task in pending:
                task.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        if not self.failures:
            log(f"settling: waiting for jobs to end, closing decoders, {IDLE_SECONDS} s idle ...")
            await self.settle(started)
        log("shutting the servers down ...")
        for session in self.sessions:
            if session._process.returncode is not None:
                continue  # already reported by the sampler or a lane
            status = await session.close(timeout=30)
            if status != 0:
                self.failure(f"server {session.index} exited with status {status} after shutdown and exit")
        for session in self.sessions:
            status = session._process.returncode
            if status not in (0, None) and not any(f.startswith(f"server {session.index} ") for f in self.failures):
                self.failure(f"server {session.index} ended with status {status}")


# -- the report ---------------------------------------------------------------------------------------------------
def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))]


def minute(seconds):
    return f"{seconds / 60:.2f}".rstrip("0").rstrip(".")


def per_server(values, digits=0):
    return " / ".join("–" if v is None else f"{v:.{digits}f}" for v in values)


def print_table(soak):
    args = soak.args
    print(f"Soak: {args.clients} servers on one cache, {args.lanes} lanes each, {args.minutes:g} minutes, "
          f"seed {args.seed}, frameCacheBytes {args.frame_cache_mib:g} MiB; per server: "
          f"{' / '.join(f'#{s.index}' for s in soak.sessions)}; load: the machine's 1-minute load average\n")
    print("| minute | RSS MiB | RSS total | fds | threads (in jobs) | frame cache MiB | requests | "
          "errors (unexpected) | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for sample in soak.samples + ([soak.idle_sample] if soak.idle_sample else []):
        servers = sample.servers
        threads = " / ".join(f"{s.threads} ({s.job_threads})" if s else "–" for s in servers)
        label = "idle" if sample is soak.idle_sample else minute(sample.seconds)
        print(f"| {label} | {per_server(s and s.rss for s in servers)} | "
              f"{sum(s.rss for s in servers if s):.0f} | {per_server(s and s.fds for s in servers)} | {threads} | "
              f"{per_server((s and s.frame_cache for s in servers), 1)} | {sample.requests} | "
              f"{sample.errors} ({sample.unexpected}) | {sample.load:.1f} |")
    print()


def difference(first, last, position, key, detail, hide=()):
    """What the lowest sample of `last` has more of than the lowest of `first` (lowest by `key`, a function of a
    Measure), in `detail` ("names" of threads or "targets" of descriptors), leaving out the names in `hide`."""
    def lowest(samples):
        measures = [s.servers[position] for s in samples if s.servers[position]]
        return getattr(min(measures, key=key), detail)
    grown = lowest(last) - lowest(first)
    return ", ".join(f"+{n} {name}" for name, n in grown.most_common() if name not in hide)[:300] or "nothing by name"


def verdict(soak):
    """("flat" | "GROWING: …" | "INCONCLUSIVE: …", grew)."""
    warm = [s for s in soak.samples if s.seconds >= soak.args.warmup_seconds - 1e-6]
    if len(warm) < 2:
        return f"INCONCLUSIVE: {len(warm)} samples after the {soak.args.warmup_seconds:g} s warm-up", True
    half = len(warm) // 2
    first, last = warm[:half], warm[-half:]
    growing, largest = [], [0.0, 0, 0]

    def measure(how, samples, position, field):
        values = [field(s.servers[position]) for s in samples if s.servers[position]]
        return how(values) if values else None

    for position, session in enumerate(soak.sessions):
        name = f"server {session.index}"
        rss0, rss1 = (measure(statistics.median, samples, position, lambda m: m.rss) for samples in (first, last))
        if rss0 is None or rss1 is None:
            continue  # a dead server is reported as a failure
        fds0, fds1 = (measure(min, samples, position, lambda m: m.fds) for samples in (first, last))
        other0, other1 = (measure(min, samples, position, lambda m: m.threads - m.job_threads)
                          for samples in (first, last))
        largest = [max(largest[0], rss1 - rss0), max(largest[1], fds1 - fds0), max(largest[2], other1 - other0)]
        if rss1 - rss0 >= RSS_GROWTH_MIB and rss1 - rss0 >= RSS_GROWTH_FRACTION * rss0:
            growing.append(f"{name} RSS {rss0:.0f} -> {rss1:.0f} MiB "
                           f"(+{rss1 - rss0:.0f} MiB, +{(rss1 / rss0 - 1) * 100:.0f}%)")
        if fds1 - fds0 > FD_GROWTH:
            growing.append(f"{name} fds (lowest) {fds0:g} -> {fds1:g} "
                           f"[{difference(first, last, position, lambda m: m.fds, 'targets')}]")
        if other1 - other0 > THREAD_GROWTH:
            grown = difference(first, last, position, lambda m: m.threads - m.job_threads, "names", JOB_THREAD_NAMES)
            growing.append(f"{name} threads outside jobs (lowest) {other0:g} -> {other1:g} [{grown}]")
    span = (f"minutes {minute(first[0].seconds)}-{minute(first[-1].seconds)} vs "
            f"{minute(last[0].seconds)}-{minute(last[-1].seconds)}: median RSS, lowest fds and threads outside jobs")
    if growing:
        return "GROWING: " + "; ".join(growing) + f" ({span})", True
    return (f"flat ({span}; largest growth of one server: RSS {largest[0]:+.0f} MiB, fds {largest[1]:+g}, "
            f"threads outside jobs {largest[2]:+g}; limits: RSS +{RSS_GROWTH_MIB} MiB and +{RSS_GROWTH_FRACTION:.0%}, "
            f"fds +{FD_GROWTH}, threads +{THREAD_GROWTH})"), False


def idle_verdict(soak):
    """("…", grew): at idle (after the traffic, jobs ended, decoders closed, pools idle) each server's threads and
    descriptors against its own before any traffic. What a leak of either leaves behind shows here, whatever the
    load was during the run."""
    if soak.idle_sample is None or not soak.samples:
        return "no idle sample (the run failed before it)", bool(soak.samples)
    start, idle = soak.samples[0], soak.idle_sample
    grown, spans = [], []
    for position, session in enumerate(soak.sessions):
        before, after = start.servers[position], idle.servers[position]
        if before is None or after is None:
            continue
        spans.append(f"server {session.index}: threads {before.threads} -> {after.threads}, "
                     f"fds {before.fds} -> {after.fds}, RSS {before.rss:.0f} -> {after.rss:.0f} MiB")
        if after.threads - before.threads > THREAD_GROWTH:
            names = ", ".join(f"+{n} {name}" for name, n in (after.names - before.names).most_common())
            grown.append(f"server {session.index} threads at idle {before.threads} -> {after.threads} [{names}]")
        if after.fds - before.fds > FD_GROWTH:
            targets = ", ".join(f"+{n} {name}" for name, n in (after.targets - before.targets).most_common())[:300]
            grown.append(f"server {session.index} fds at idle {before.fds} -> {after.fds} [{targets}]")
    if grown:
        return "GROWING: " + "; ".join(grown), True
    return (f"back to the start ({'; '.join(spans)}; limits: threads +{THREAD_GROWTH}, fds +{FD_GROWTH})"), False


def stderr_summary(soak):
    """Counts of the servers' stderr lines by level, and the warnings and errors among them (blurred, counted)."""
    levels, notable = collections.Counter(), collections.Counter()
    for session in soak.sessions:
        path = soak.directory / f"server-{session.index}.stderr.log"
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split(" ", 2)
            level = parts[1] if len(parts) == 3 and parts[1] in (
                "trace", "debug", "info", "notice", "warning", "error", "critical") else "other"
            levels[level] += 1
            if level in ("warning", "error", "critical", "other"):
                notable[(level, normalise(parts[2] if level != "other" else line))] += 1
    return levels, notable


def print_report(soak):
    print_table(soak)
    text, grew = verdict(soak)
    print(f"Verdict: {text}")
    idle_text, idle_grew = idle_verdict(soak)
    print(f"\nAt idle: {idle_text}")
    grew = grew or idle_grew
    print()
    methods = ", ".join(f"{m} {n}" for m, n in soak.requests_by_method.most_common())
    print(f"- requests: {soak.requests} ({methods}); waveform streams cancelled by the client after the first "
          f"window: {soak.client_cancels}")
    for code, methods in sorted(soak.errors_by_code.items()):
        print(f"- error {code} {ERROR_NAMES.get(code, '')}: "
              + ", ".join(f"{m} {n}" for m, n in methods.most_common()))
    print("- round trips in ms, p50 / p99 / max: " + ", ".join(
        f"{m} {statistics.median(v) * 1000:.0f} / {percentile(v, 99) * 1000:.0f} / {max(v) * 1000:.0f}"
        for m, v in sorted(soak.latencies.items(), key=lambda item: -len(item[1]))))
    if soak.slow_requests:
        print(f"- round trips over {SLOW_SECONDS} s (slow-requests.log; foreground generate not counted): "
              + ", ".join(f"{m} {n}" for m, n in soak.slow_requests.most_common()))
    if soak.busy_at_end:
        print("- still running 90 s after the end (cancelled): "
              + ", ".join(f"{m} {n}" for m, n in soak.busy_at_end.most_common()))
    print("- proxy jobs ended: " + (", ".join(f"{k} {n}" for k, n in soak.job_outcomes.most_common()) or "none"))
    print("- window/logMessage by type (1 error, 2 warning, 3 info, 4 log): "
          + (", ".join(f"{t}: {n}" for t, n in sorted(soak.log_messages.items())) or "none"))
    for (kind, message), count in soak.notable_log_messages.most_common(8):
        print(f"  - type {kind} x{count}: {message}")
    if soak.samples:
        for position, session in enumerate(soak.sessions):
            final = soak.samples[-1].servers[position]
            if final:
                print(f"- server {session.index} at the end: threads "
                      + ", ".join(f"{name} {n}" for name, n in final.names.most_common(8)) + "; descriptors "
                      + ", ".join(f"{name} {n}" for name, n in final.targets.most_common(8)))
    levels, notable = stderr_summary(soak)
    print("- server stderr lines by level: " + ", ".join(f"{k} {n}" for k, n in levels.most_common()))
    for (level, message), count in notable.most_common(12):
        print(f"  - {level} x{count}: {message}")
    failed = bool(soak.failures or soak.violations or soak.unexpected_errors)
    for (index, method, code, message), count in soak.unexpected_errors.most_common(12):
        print(f"- UNEXPECTED error on server {index}: {method} -> {code} x{count}: {message}")
    for (index, text), count in soak.violations.most_common(12):
        print(f"- PROTOCOL VIOLATION on server {index} x{count}: {text}")
    for text in soak.failures:
        print(f"- FAILURE: {text}")
    print(f"- result: {'FAIL' if failed or grew else 'pass'}")
    return failed or grew


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--clients", type=int, default=4, help="editor windows: one server each, one shared cache")
    parser.add_argument("--lanes", type=int, default=3, help="concurrent request loops per client")
    parser.add_argument("--binary", default=os.environ.get("AURA_MEDIA_BINARY")
                        or str(ROOT / ".build" / "release" / "aura-media"))
    parser.add_argument("--sample-seconds", type=float, default=60)
    parser.add_argument("--warmup-seconds", type=float, default=None,
                        help="samples before this are not judged (default: a third of the run, at least 60 s)")
    parser.add_argument("--frame-cache-mib", type=float, default=16, help="frameCacheBytes of each server")
    parser.add_argument("--fixtures", help="where the fixtures are made, or found from an earlier run "
                                           "(default: in the temporary directory)")
    parser.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kept anyway on failure)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 31)
    if args.warmup_seconds is None:
        args.warmup_seconds = max(60.0, args.minutes * 60 / 3)
    args.binary = str(Path(args.binary).resolve())
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"no aura-media binary at {args.binary}: build it first (swift build -c release)")
    if shutil.which("ffmpeg") is None:
        sys.exit("the ffmpeg CLI is needed to make the fixtures")

    soak = Soak(args)
    try:
        asyncio.run(soak.run())
    except KeyboardInterrupt:
        soak.failure("interrupted")
    failed = print_report(soak)
    if failed or args.keep:
        log(f"kept {soak.directory} (server-N.stderr.log: each server's log)")
    else:
        shutil.rmtree(soak.directory, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
