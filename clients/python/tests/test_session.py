"""The asyncio client against the real server (the binary built by `swift build`)."""
import asyncio
import inspect
import json
import os
import signal

import pytest

from aura_media import AuraMedia, AuraMediaError, ServerExited
from aura_media.client import _camel

from conftest import ROOT


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 120))


def test_every_protocol_method_and_client_notification_has_a_typed_method():
    document = json.loads((ROOT / "protocol" / "openrpc.json").read_text())
    lifecycle = {"initialize", "shutdown", "initialized", "exit", "$/cancelRequest"}
    names = {"setPlayhead": "set_playhead", "telemetry/report": "report_telemetry"}
    for method in document["methods"]:
        name = method["name"]
        if name in lifecycle or method.get("x-direction") == "serverToClient":
            continue
        python = names.get(name) or "".join("_" + c.lower() if c.isupper() else c for c in name)
        assert hasattr(AuraMedia, python), f"{name}: no AuraMedia.{python}"
        parameters = set(inspect.signature(getattr(AuraMedia, python)).parameters) - {"self", "stream"}
        documented = {p["name"] for p in method.get("params", [])} - {"workDoneToken", "partialResultToken"}
        if name == "updateSettings":
            continue  # keyword arguments are the settings themselves
        assert {_camel(p) for p in parameters} == documented, f"{name}: {parameters} vs {documented}"


def test_probe_generate_with_progress_and_the_quality_toggle(binary, server_args, clip):
    async def session():
        async with AuraMedia.spawn(command=binary, args=server_args) as s:
            assert s.initialize_result["serverInfo"]["name"] == "aura-media"
            info = await s.probe(str(clip))
            assert info["streams"][0]["width"] == 320
            # The clip is under Draft's box: forced (without, the answer is notNeeded).
            job = s.generate(str(clip), quality="Draft", background_generation=False, force=True)
            kinds, percentages = [], []
            async for progress in job:
                kinds.append(progress["kind"])
                if "percentage" in progress:
                    percentages.append(progress["percentage"])
            result = await job
            assert kinds[0] == "begin" and kinds[-1] == "end", kinds
            assert percentages == sorted(percentages) and percentages[-1] == 100
            assert result["proxy"]["status"] == "completed" and os.path.exists(result["proxy"]["proxyPath"])
            changes = []
            s.on("previewModeChanged", changes.append)
            await s.set_quality("proxy", quality="Draft")
            assert (await s.resolve(str(clip)))["usingProxy"] is True
            await s.set_quality("source")
            assert (await s.resolve(str(clip)))["reason"] == "proxy mode is off"
            assert [c["badge"]["label"] for c in changes] == ["Proxy Active", "Source Quality"]
            with pytest.raises(AuraMediaError) as missing:
                await s.probe(str(clip) + ".missing")
            assert missing.value.code == -32001 and missing.value.data["cause"] == "fileNotFound"
        return s
    session = run(session())
    assert session._process.returncode == 0


def test_waveform_windows_stream_visible_first_and_frames(binary, server_args, clip):
    async def session():
        async with AuraMedia.spawn(command=binary, args=server_args) as s:
            call = s.request_waveform_range(str(clip), 0, 4, samples_per_pixel=480, window_seconds=1,
                                            visible_start=2, visible_end=3)
            windows = [window async for window in call]
            summary = await call
            assert summary["windowCount"] == 4 and len(windows) == 4
            starts = [w["startTime"] for w in windows]
            # The windows the timeline shows (2-3 s) come first, then the others by distance from them.
            assert all(w["startTime"] < 3 and w["endTime"] > 2 for w in windows[:2]), starts
            assert starts[-1] == 0, starts
            assert all(len(w["max"]) == len(w["min"]) >= 90 for w in windows[:3]), [len(w["max"]) for w in windows]
            whole = await s.request_waveform_range(str(clip), 0, 4, samples_per_pixel=480, stream=False)
            assert len(whole["windows"]) == whole["windowCount"]
            # The clip has one audio stream: audio_stream 0 is it, 1 is refused naming the param.
            first = await s.request_waveform_range(str(clip), 0, 4, samples_per_pixel=480, stream=False, audio_stream=0)
            assert first["windowCount"] == whole["windowCount"]
            with pytest.raises(AuraMediaError) as refused:
                await s.request_waveform_range(str(clip), 0, 4, samples_per_pixel=480, stream=False, audio_stream=1)
            assert refused.value.code == -32602 and "'audioStream'" in refused.value.message
            frame = await s.request_frame(str(clip), 1.5, width=160)
            assert frame["width"] == 160 and frame["format"] == "jpeg" and frame["data"]
            s.set_playhead(str(clip), 1.0, 1)
            s.report_telemetry(scrub_latency_ms=12.5, playback_fps=25, cache_hit=True)
            await s.ping()
            metrics = await s.get_metrics_summary()
            assert metrics["scrubLatencySource"] == "client" and metrics["playbackFps"]["current"] == 25
    run(session())


def test_cancelling_the_awaiting_task_cancels_the_request(binary, server_args):
    async def session():
        async with AuraMedia.spawn(command=binary, args=server_args) as s:
            slow = asyncio.ensure_future(s.ping(echo="slow", delay_milliseconds=20_000))
            await asyncio.sleep(0.2)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert (await s.ping(echo="after"))["echo"] == "after"
            # The server answered the cancelled ping with -32800: its metrics count it as an error.
            for _ in range(50):
                ping = (await s.get_metrics_summary())["methods"].get("ping", {})
                if ping.get("errors") == 1:
                    break
                await asyncio.sleep(0.05)
            assert ping.get("count") == 2 and ping.get("errors") == 1, ping
    run(session())


def test_a_dying_server_fails_every_pending_call(binary, server_args):
    async def session():
        s = await AuraMedia.spawn(command=binary, args=server_args)
        pending = [s.ping(delay_milliseconds=10_000) for _ in range(3)]
        await asyncio.sleep(0.2)
        os.kill(s.pid, signal.SIGKILL)
        for call in pending:
            with pytest.raises(ServerExited) as exited:
                await call
            assert "exited with status" in str(exited.value)
        with pytest.raises(ServerExited):
            await s.ping()
        assert await s.close() == -signal.SIGKILL
    run(session())


def test_a_missing_binary_is_a_clear_error(tmp_path):
    async def session():
        with pytest.raises(FileNotFoundError):
            await AuraMedia.spawn(command=str(tmp_path / "no-such-aura-media"))
    run(session())
