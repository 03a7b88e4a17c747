import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "clients" / "python"))


@pytest.fixture(scope="session")
def binary():
    path = os.environ.get("AURA_MEDIA_BINARY") or str(ROOT / ".build" / "debug" / "aura-media")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no aura-media binary at {path}: build it first (swift build)")
    return path


@pytest.fixture()
def workdir():
    directory = tempfile.mkdtemp(prefix="aura-python-client-")
    yield Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture()
def server_args(workdir):
    """Private caches and settings for one server."""
    return ["serve", "--cache-dir", str(workdir / "proxies"), "--waveform-cache-dir", str(workdir / "waveforms"),
            "--frame-cache-dir", str(workdir / "frames"), "--config-dir", str(workdir / "config")]


@pytest.fixture(scope="session")
def clip():
    """4 s of 320x240 25 fps H.264 with stereo AAC, made by the ffmpeg CLI (a test fixture, not the product)."""
    directory = Path(tempfile.mkdtemp(prefix="aura-python-fixtures-"))
    path = directory / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4", "-ac", "2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-movflags", "+faststart", "-shortest",
                    str(path)], check=True)
    yield path
    shutil.rmtree(directory, ignore_errors=True)
