import asyncio
import itertools
import logging
import os

from .call import Call
from .errors import AuraMediaError, ServerExited
from .framing import encode, read_message

log = logging.getLogger("aura_media")


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _params(**values):
    """Keyword arguments as protocol params: snake_case → camelCase, None left out."""
    return {_camel(key): value for key, value in values.items() if value is not None}


class AuraMedia:
    """A session with an `aura-media` server spawned as a child process (protocol/spec.md).

        async with AuraMedia.spawn(command="aura-media") as session:
            info = await session.probe("/media/clip.mp4")
            job = session.generate("/media/clip.mp4", quality="Draft", background_generation=False)
            async for progress in job:
                print(progress.get("percentage"), progress.get("message"))
            record = (await job)["proxy"]

    Every protocol method has a method here (snake_case, keyword arguments for optional params) returning a `Call`:
    await it for the result, iterate it for progress and streamed results, cancel the awaiting task (or the call) to
    send `$/cancelRequest`. When the server exits, every pending call raises `ServerExited`.
    """

    def __init__(self, process):
        self._process = process
        self._ids = itertools.count(1)
        self._pending = {}
        self._by_token = {}
        self._handlers = {}
        self._stderr_tail = b""
        self._exit_error = None
        self.initialize_result = None
        self._reader = asyncio.ensure_future(self._read())
        self._stderr_reader = asyncio.ensure_future(self._drain_stderr())

    # -- starting and stopping ----------------------------------------------------------------------------------
    @classmethod
    def spawn(cls, command=None, args=(), env=None, cwd=None, initialization_options=None, client_name="aura_media"):
        """An async context manager (also awaitable) that starts `command` (default: `aura-media` on PATH, or
        `$AURA_MEDIA_BINARY`), initializes it and, on exit, shuts it down."""
        return _Spawn(cls, command or os.environ.get("AURA_MEDIA_BINARY", "aura-media"), list(args), env, cwd,
                      initialization_options, client_name)

    async def _initialize(self, initialization_options, client_name):
        params = {"processId": os.getpid(), "clientInfo": {"name": client_name}}
        if initialization_options:
            params["initializationOptions"] = initialization_options
        self.initialize_result = await self.request("initialize", params)
        self.notify("initialized", {})
        return self.initialize_result

    async def close(self, timeout=10.0):
        """`shutdown`, `exit`, then waits for the process (killing it after `timeout`). Returns its exit status."""
        if self._process.returncode is None and self._exit_error is None:
            try:
                await asyncio.wait_for(self.request("shutdown"), timeout)
                self.notify("exit")
            except (ServerExited, AuraMediaError, asyncio.TimeoutError, ConnectionError):
                pass
        try:
            await asyncio.wait_for(self._process.wait(), timeout)
        except asyncio.TimeoutError:
            self._process.kill()
            await self._process.wait()
        await asyncio.gather(self._reader, self._stderr_reader, return_exceptions=True)
        return self._process.returncode

    @property
    def pid(self):
        return self._process.pid

    # -- messages ----------------------------------------------------------------------------------------------
    def request(self, method, params=None, *, progress=False, partial=False):
        """Sends a request; `progress` adds a `workDoneToken`, `partial` a `partialResultToken` (streamed results),
        both delivered through the returned `Call`'s iteration."""
        request_id = next(self._ids)
        call = Call(self, request_id, method)
        if self._exit_error is not None:
            call._resolve(error=self._exit_error)
            return call
        params = dict(params or {})
        if progress:
            params.setdefault("workDoneToken", f"progress-{request_id}")
            self._by_token[params["workDoneToken"]] = call
        if partial:
            params.setdefault("partialResultToken", f"partial-{request_id}")
            self._by_token[params["partialResultToken"]] = call
        self._pending[request_id] = call
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params:
            message["params"] = params
        self._send(message)
        return call

    def notify(self, method, params=None):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    def on(self, method, handler):
        """Calls `handler(params)` for each server notification `method` (`window/logMessage`,
        `previewModeChanged`, `$/progress` of tokens no call owns, such as a background job's id)."""
        self._handlers.setdefault(method, []).append(handler)

    def _send(self, message):
        stdin = self._process.stdin
        if stdin is None or stdin.is_closing():
            raise ServerExited("aura-media is not running")
        stdin.write(encode(message))

    def _cancel_request(self, request_id):
        self._pending.pop(request_id, None)
        if self._exit_error is None and self._process.returncode is None:
            try:
                self.notify("$/cancelRequest", {"id": request_id})
            except ServerExited:
                pass

    async def _read(self):
        try:
            while True:
                message = await read_message(self._process.stdout)
                if message is None:
                    break
                self._dispatch(message)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as error:
            log.warning("aura-media output unreadable: %s", error)
        status = await self._process.wait()
        await asyncio.sleep(0)  # let the stderr reader take the last lines
        tail = self._stderr_tail.decode("utf-8", "replace").strip().splitlines()[-5:]
        self._exit_error = ServerExited(f"aura-media exited with status {status}"
                                        + (": " + " | ".join(tail) if tail and status != 0 else ""))
        for call in list(self._pending.values()):
            call._resolve(error=self._exit_error)
        self._pending.clear()

    async def _drain_stderr(self):
        while True:
            chunk = await self._process.stderr.read(65536)
            if not chunk:
                return
            self._stderr_tail = (self._stderr_tail + chunk)[-8192:]

    def _dispatch(self, message):
        if "id" in message and ("result" in message or "error" in message):
            call = self._pending.pop(message["id"], None)
            if call is None:
                return
            for token, owner in list(self._by_token.items()):
                if owner is call:
                    del self._by_token[token]
            if "error" in message:
                call._resolve(error=AuraMediaError(message["error"]))
            else:
                call._resolve(result=message["result"])
            return
        method, params = message.get("method"), message.get("params")
        if method == "$/progress" and params and params.get("token") in self._by_token:
            self._by_token[params["token"]]._event(params.get("value"))
            return
        if method == "window/logMessage" and params:
            log.info("aura-media: %s", params.get("message"))
        for handler in self._handlers.get(method, []):
            handler(params)

    # -- the protocol's methods (protocol/spec.md §8) -------------------------------------------------------------
    def ping(self, echo=None, delay_milliseconds=None):
        return self.request("ping", _params(echo=echo, delay_milliseconds=delay_milliseconds))

    def probe(self, path):
        return self.request("probe", {"path": path})

    def generate(self, source_path, quality=None, background_generation=None, priority=None, overwrite=None,
                 scale_percent=None, force=None, start_time=None):
        """Iterate the call for `$/progress` values (begin, report with percentage and framesPerSecond, and once the
        proxy's segments are planned segmentsCompleted, segmentCount and coverage; end). A source no larger than the
        quality's box answers `status: "notNeeded"` with a `reason` unless `force=True`. `start_time` (seconds) is
        where the user looks: its segment is made first. The result's `resumedSegments` counts the parts an earlier,
        interrupted attempt finished."""
        return self.request("generate", _params(source_path=source_path, quality=quality,
                                                background_generation=background_generation, priority=priority,
                                                overwrite=overwrite, scale_percent=scale_percent, force=force,
                                                start_time=start_time),
                            progress=True)

    def status(self, source_path, quality=None):
        return self.request("status", _params(source_path=source_path, quality=quality))

    def cancel_generation(self, job_id=None, source_path=None, quality=None):
        return self.request("cancelGeneration", _params(job_id=job_id, source_path=source_path, quality=quality))

    def stats(self):
        return self.request("stats")

    def clear_cache(self, scope=None, source_path=None):
        return self.request("clearCache", _params(scope=scope, source_path=source_path))

    def set_quality(self, mode, quality=None):
        return self.request("setQuality", _params(mode=mode, quality=quality))

    def resolve(self, source_path):
        return self.request("resolve", {"sourcePath": source_path})

    def get_settings(self):
        return self.request("getSettings")

    def update_settings(self, **settings):
        """`update_settings(cache_limit_bytes=..., default_quality="Draft")`; pass `scale_percent=None`
        explicitly through `request("updateSettings", ...)` to clear it."""
        return self.request("updateSettings", {"settings": _params(**settings)})

    def request_waveform_range(self, source_path, start_time, end_time, samples_per_pixel=None,
                               pixels_per_second=None, channels=None, visible_start=None, visible_end=None,
                               window_seconds=None, encoding=None, stream=True, audio_stream=None):
        """With `stream` (default) iterate the call for windows in arrival order (visible ones first); the result
        is then the summary. Without, the result holds every window in time order. `audio_stream` picks one of the
        source's audio streams (probe's `audioStream`; 0, the primary, by default)."""
        params = _params(source_path=source_path, start_time=start_time, end_time=end_time,
                         samples_per_pixel=samples_per_pixel, pixels_per_second=pixels_per_second, channels=channels,
                         visible_start=visible_start, visible_end=visible_end, window_seconds=window_seconds,
                         encoding=encoding, audio_stream=audio_stream)
        return _WindowCall.wrap(self.request("requestWaveformRange", params, partial=stream))

    def export_waveform(self, source_path, output_path, format=None, samples_per_pixel=None, bits=None,
                        channels=None, audio_stream=None):
        return self.request("exportWaveform", _params(source_path=source_path, output_path=output_path, format=format,
                                                      samples_per_pixel=samples_per_pixel, bits=bits, channels=channels,
                                                      audio_stream=audio_stream))

    def request_frame(self, source_path, time, width=None, height=None, format=None, quality=None, accurate=None,
                      delivery=None):
        return self.request("requestFrame", _params(source_path=source_path, time=time, width=width, height=height,
                                                    format=format, quality=quality, accurate=accurate,
                                                    delivery=delivery))

    def get_metrics_summary(self):
        return self.request("getMetricsSummary")

    def import_media(self, paths, quality=None, recursive=None):
        return self.request("importMedia", _params(paths=list(paths), quality=quality, recursive=recursive))

    # Notifications to the server.
    def set_playhead(self, source_path, time, rate, width=None, height=None, format=None, quality=None):
        self.notify("setPlayhead", _params(source_path=source_path, time=time, rate=rate, width=width, height=height,
                                           format=format, quality=quality))

    def report_telemetry(self, playback_fps=None, scrub_latency_ms=None, dropped_frames=None, cache_hit=None):
        self.notify("telemetry/report", _params(playback_fps=playback_fps, scrub_latency_ms=scrub_latency_ms,
                                                dropped_frames=dropped_frames, cache_hit=cache_hit))


class _WindowCall:
    """A waveform call whose iteration yields windows (each partial result holds a list of them)."""

    @staticmethod
    def wrap(call):
        original = call._iterate

        async def windows():
            async for value in original():
                for window in (value or {}).get("windows", []):
                    yield window
        call._iterate = windows
        return call


class _Spawn:
    def __init__(self, cls, command, args, env, cwd, initialization_options, client_name):
        self._cls, self._command, self._args = cls, command, args
        self._env, self._cwd = env, cwd
        self._options, self._name = initialization_options, client_name
        self._session = None

    async def _start(self):
        process = await asyncio.create_subprocess_exec(
            self._command, *self._args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self._env, cwd=self._cwd, limit=1 << 26)
        session = self._cls(process)
        try:
            await session._initialize(self._options, self._name)
        except BaseException:
            await session.close(timeout=2)
            raise
        return session

    def __await__(self):
        return self._start().__await__()

    async def __aenter__(self):
        self._session = await self._start()
        return self._session

    async def __aexit__(self, *exc):
        await self._session.close()
        return False
