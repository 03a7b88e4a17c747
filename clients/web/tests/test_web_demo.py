"""The web timeline demo in headless Chromium (Debian's chromium + chromium-driver, selenium from PyPI), served and
connected by a real `aura-media bridge`. Screenshots go to $AURA_WEB_SCREENSHOTS (default: a temporary folder,
printed)."""
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "clients" / "web"


@pytest.fixture()
def work():
    directory = Path(tempfile.mkdtemp(prefix="aura-web-demo-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture()
def bridge(work):
    binary = os.environ.get("AURA_MEDIA_BINARY") or str(ROOT / ".build" / "debug" / "aura-media")
    process = subprocess.Popen([binary, "bridge", "--port", "0", "--token", "web-demo-token", "--web", str(WEB),
                                "--cache-dir", str(work / "proxies"), "--waveform-cache-dir", str(work / "waveforms"),
                                "--frame-cache-dir", str(work / "frames"), "--config-dir", str(work / "config")],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = re.search(r"ws://127\.0\.0\.1:(\d+)/rpc", line)
    assert match, f"the bridge said: {line!r}"
    yield f"http://127.0.0.1:{match.group(1)}/?token=web-demo-token"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture()
def clip(work):
    path = work / "clip.mp4"
    # 1920x1080: larger than the Preview box, so it gets a proxy (a 640x360 clip would need none).
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=6",
                    "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=6", "-ac", "2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


def test_the_timeline_demo_in_headless_chromium(bridge, browser, clip):
    shots = Path(os.environ.get("AURA_WEB_SCREENSHOTS") or tempfile.mkdtemp(prefix="aura-web-demo-screens-"))
    shots.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 60)
    text = lambda element_id: browser.find_element(By.ID, element_id).text  # noqa: E731

    browser.get(bridge)
    wait.until(lambda _: text("connection").startswith("connected"))
    assert text("badge") == "Proxy Active" and "blue" in browser.find_element(By.ID, "badge").get_attribute("class")
    browser.find_element(By.ID, "path").send_keys(str(clip))
    browser.find_element(By.ID, "open-button").click()
    wait.until(lambda _: "6.0" in text("info") and "1920x1080" in text("info"))
    browser.save_screenshot(str(shots / "1-opened.png"))

    # The quality toggle and the guide's badges.
    browser.find_element(By.ID, "toggle").click()
    wait.until(lambda _: text("badge") == "Source Quality")
    assert "green" in browser.find_element(By.ID, "badge").get_attribute("class")
    browser.save_screenshot(str(shots / "2-source-quality.png"))
    browser.find_element(By.ID, "toggle").click()
    wait.until(lambda _: text("badge") == "Proxy Active")

    # The waveform canvas has drawn the streamed windows.
    def drawn(_):
        return browser.execute_script("""
            const c = document.getElementById('waveform');
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
            return painted;""") > 2000
    wait.until(drawn)

    # Proxy generation with a progress bar to 100 %.
    browser.find_element(By.ID, "generate").click()
    wait.until(lambda _: text("progress-text") == "100 %")
    wait.until(lambda _: text("stat-proxies") == "1")
    assert not text("stat-saved").startswith("-"), text("stat-saved")  # the proxy is smaller than its source
    browser.save_screenshot(str(shots / "3-proxy-generated.png"))

    # Zoom in (the request in flight is replaced) and scrub: a thumbnail of the picture under the pointer, from the proxy.
    browser.find_element(By.ID, "zoom-in").click()
    wait.until(lambda _: text("view").startswith("1.50"))
    wait.until(drawn)
    canvas = browser.find_element(By.ID, "waveform")
    ActionChains(browser).move_to_element_with_offset(canvas, 100, 0).perform()
    wait.until(lambda _: browser.execute_script(
        "const img = document.getElementById('thumbnail'); return img.complete && img.naturalWidth === 160;"))
    assert "(proxy)" in text("scrub-time")
    browser.save_screenshot(str(shots / "4-scrubbing.png"))

    # Clear the cache: the stats follow.
    browser.find_element(By.ID, "clear").click()
    wait.until(lambda _: text("stat-proxies") == "0" and text("stat-size") == "0.00 MiB")
    browser.save_screenshot(str(shots / "5-cleared.png"))
    assert text("status") == "", text("status")
    print(f"screenshots in {shots}")
