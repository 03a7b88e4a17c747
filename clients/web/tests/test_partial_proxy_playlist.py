"""A proxy still being made plays in headless Chromium from its HLS playlist (`resolve`'s `partialProxy`, spec §8.11
and §10.9): the playlist and the segments it lists are taken from a real server's cache while the job runs, served
over HTTP with range requests as any static file server does, and played through Media Source Extensions (the way
web players play HLS): the page reads the playlist, fetches each initialisation section and segment by its byte
range, appends them to one SourceBuffer and plays. Where Chromium says it plays HLS itself, the playlist's URL is
also played as a `<video>`'s source."""
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "clients" / "python"))
from aura_media_client import AuraMediaClient  # noqa: E402

PAGE = """<!doctype html><meta charset="utf-8"><title>partial proxy</title>
<video id="mse" width="640" height="360" muted playsinline></video>
<video id="native" width="640" height="360" muted playsinline></video>
<script>
// The playlist's initialisation sections and segments, in order, each {uri, offset, length}.
function parsePlaylist(text) {
  const items = [];
  let range = null;
  for (const line of text.split("\\n")) {
    if (line.startsWith("#EXT-X-MAP:")) {
      const [, length, offset] = /BYTERANGE="(\\d+)@(\\d+)"/.exec(line);
      items.push({uri: /URI="([^"]+)"/.exec(line)[1], offset: +offset, length: +length, init: true});
    } else if (line.startsWith("#EXT-X-BYTERANGE:")) {
      const [, length, offset] = /(\\d+)@(\\d+)/.exec(line);
      range = {offset: +offset, length: +length};
    } else if (line && !line.startsWith("#")) {
      items.push({uri: line, ...range, init: false});
      range = null;
    }
  }
  return items;
}
async function fetchRange(base, item) {
  const response = await fetch(new URL(item.uri, base),
    {headers: {Range: `bytes=${item.offset}-${item.offset + item.length - 1}`}});
  if (response.status !== 206) throw new Error(`${item.uri}: HTTP ${response.status} to a range request`);
  return new Uint8Array(await response.arrayBuffer());
}
// The MSE type from an initialisation section: the avcC box's profile, constraints and level, and AAC when present.
function mimeOf(init) {
  const text = String.fromCharCode(...init);
  const at = text.indexOf("avcC");
  if (at < 0) throw new Error("no avcC box in the initialisation section");
  const hex = (byte) => byte.toString(16).padStart(2, "0");
  const codecs = [`avc1.${hex(init[at + 5])}${hex(init[at + 6])}${hex(init[at + 7])}`];
  if (text.includes("mp4a")) codecs.push("mp4a.40.2");
  return `video/mp4; codecs="${codecs.join(", ")}"`;
}
function appended(buffer, bytes) {
  return new Promise((resolve, reject) => {
    buffer.addEventListener("updateend", resolve, {once: true});
    buffer.addEventListener("error", () => reject(new Error("appendBuffer failed")), {once: true});
    buffer.appendBuffer(bytes);
  });
}
// Plays `video` from `start` until its clock has moved 1.5 s, or fails after 20 s.
async function played(video, start) {
  video.currentTime = start;
  await video.play();
  const t0 = performance.now();
  while (video.currentTime < start + 1.5) {
    if (video.error) throw new Error(`media error ${video.error.code}: ${video.error.message}`);
    if (performance.now() - t0 > 20000) throw new Error(`stuck at ${video.currentTime}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  video.pause();
  return {currentTime: video.currentTime, frames: video.getVideoPlaybackQuality().totalVideoFrames,
          width: video.videoWidth, height: video.videoHeight};
}
async function playThroughMSE(playlistUrl) {
  const base = new URL(playlistUrl, location.href);
  const items = parsePlaylist(await (await fetch(base)).text());
  const first = await fetchRange(base, items.find((item) => item.init));
  const mime = mimeOf(first);
  if (!MediaSource.isTypeSupported(mime)) throw new Error(`MSE does not take ${mime}`);
  const video = document.getElementById("mse");
  const source = new MediaSource();
  video.src = URL.createObjectURL(source);
  await new Promise((r) => source.addEventListener("sourceopen", r, {once: true}));
  const buffer = source.addSourceBuffer(mime);
  for (const item of items) await appended(buffer, await fetchRange(base, item));
  source.endOfStream();
  const ranges = [];
  for (let i = 0; i < video.buffered.length; i++) ranges.push([video.buffered.start(i), video.buffered.end(i)]);
  const result = await played(video, ranges[0][0] + 0.1);
  return {mime, segments: items.filter((item) => !item.init).length, ranges, ...result};
}
async function playNatively(playlistUrl) {
  const video = document.getElementById("native");
  const support = video.canPlayType("application/vnd.apple.mpegurl");
  if (!support) return {support};
  video.src = playlistUrl;
  await new Promise((resolve, reject) => {
    video.addEventListener("loadedmetadata", resolve, {once: true});
    video.addEventListener("error", () => reject(new Error(`native HLS: media error ${video.error.code}`)), {once: true});
  });
  return {support, ...(await played(video, video.seekable.length ? video.seekable.start(0) + 0.1 : 0.1))};
}
</script>
"""


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that answers `Range: bytes=a-b` with 206, as the servers HLS is published from do."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not match or not path.is_file():
            return super().do_GET()
        data = path.read_bytes()
        first, last = int(match.group(1)), min(int(match.group(2)), len(data) - 1)
        if first > last:
            self.send_error(416)
            return
        self.send_response(206)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        self.wfile.write(data[first:last + 1])

    def guess_type(self, path):
        if str(path).endswith(".m3u8"):
            return "application/vnd.apple.mpegurl"
        return "video/mp4" if str(path).endswith(".m4s") else super().guess_type(path)


@pytest.fixture()
def work():
    directory = Path(tempfile.mkdtemp(prefix="aura-partial-proxy-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def snapshot_of_a_proxy_in_progress(work):
    """Starts a Preview proxy of a 60 s 1080p clip with audio and, as soon as `resolve` offers its playlist, copies
    the playlist and every file it names (they are only ever added to, each atomically) into `work/www`. Returns
    (the playlist's name there, its coverage)."""
    clip = work / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=60",
                    "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=60", "-ac", "2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-shortest", str(clip)],
                   check=True)
    binary = os.environ.get("AURA_MEDIA_BINARY") or str(ROOT / ".build" / "debug" / "aura-media")
    www = work / "www"
    www.mkdir()
    with AuraMediaClient([binary, "serve", "--cache-dir", str(work / "proxies"), "--log-level", "warning"],
                         stderr=subprocess.DEVNULL) as client:
        client.initialize()
        client.request("generate", {"sourcePath": str(clip), "quality": "Preview"}, 30)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            answer = client.request("resolve", {"sourcePath": str(clip)}, 30)
            assert answer["proxyStatus"] in ("queued", "generating"), f"the proxy ended before it was seen: {answer}"
            partial = answer.get("partialProxy")
            if partial:
                playlist = Path(partial["playlistPath"])
                text = playlist.read_text()
                names = {line for line in text.splitlines() if line and not line.startswith("#")}
                names |= set(re.findall(r'URI="([^"]+)"', text))
                for name in names:
                    shutil.copyfile(playlist.parent / name, www / name)
                (www / playlist.name).write_text(text)
                client.request("cancelGeneration", {"sourcePath": str(clip)}, 30)
                return playlist.name, partial["coverage"]
            time.sleep(0.1)
    pytest.fail("no partial proxy within 5 minutes")


def test_a_proxy_in_progress_plays_in_chromium_from_its_playlist(work, browser):
    playlist, coverage = snapshot_of_a_proxy_in_progress(work)
    (work / "www" / "index.html").write_text(PAGE)
    handler = lambda *args, **kwargs: RangeHandler(*args, directory=str(work / "www"), **kwargs)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.set_script_timeout(60)
        browser.get(f"http://127.0.0.1:{server.server_port}/index.html")
        run = "const done = arguments[arguments.length - 1]; {}(arguments[0]).then(done, (e) => done({{error: String(e)}}));"
        mse = browser.execute_async_script(run.format("playThroughMSE"), playlist)
        assert "error" not in mse, mse
        # What was appended is one gapless span: the playlist's coverage (within a frame at each end).
        assert len(mse["ranges"]) == 1, mse
        (start, end), (covered_start, covered_end) = mse["ranges"][0], coverage
        assert abs(start - covered_start) <= 0.05 and abs(end - covered_end) <= 0.05, (mse, coverage)
        assert mse["frames"] >= 25 and (mse["width"], mse["height"]) == (1280, 720), mse
        # Chromium's own HLS player is given the snapshot closed with #EXT-X-ENDLIST, as the ffmpeg CLI is in the
        # end-to-end test: while an EVENT playlist still grows, Chromium 156 plays it or not depending on how many
        # segments it lists (a live one-segment playlist fails with DEMUXER_ERROR_COULD_NOT_PARSE; the same bytes
        # closed play), so a page plays a growing playlist through Media Source Extensions, as above.
        closed = "closed-" + playlist
        (work / "www" / closed).write_text((work / "www" / playlist).read_text() + "#EXT-X-ENDLIST\n")
        native = browser.execute_async_script(run.format("playNatively"), closed)
        assert "error" not in native, native
        if native["support"]:
            assert native["frames"] > 0, native
        print(f"MSE: {mse}; native HLS: {native}")
    finally:
        server.shutdown()
