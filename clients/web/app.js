// The timeline demo: the TypeScript client over the bridge (the page is served by `aura-media bridge --web`).
import { AuraMediaClient } from './aura-media-client.js';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token') ?? '';
const state = { path: null, duration: 0, viewStart: 0, viewSeconds: 0, waveform: null, frame: null, mode: 'proxy' };
let client;

function status(text) { $('status').textContent = text; }

function showBadge(preview) {
  state.mode = preview.mode;
  const badge = $('badge');
  badge.textContent = preview.badge.label;
  badge.className = `badge ${preview.badge.color}`;
  $('toggle').textContent = preview.mode === 'proxy' ? 'Switch to High Quality' : 'Switch to Fast (proxies)';
}

async function connect() {
  client = await AuraMediaClient.connect(`ws://${location.host}/rpc?token=${encodeURIComponent(token)}`,
    { clientName: 'web-demo' });
  $('connection').textContent = `connected to ${client.initializeResult.serverInfo.name} ${client.initializeResult.serverInfo.version}`;
  client.on('previewModeChanged', showBadge);
  client.on('close', (reason) => { $('connection').textContent = `disconnected: ${reason}`; });
  showBadge(client.initializeResult.previewState);
  await refreshStats();
}

async function open() {
  const path = $('path').value.trim();
  try {
    const info = await client.probe({ path });
    state.path = path;
    state.duration = info.durationSeconds ?? 0;
    state.viewStart = 0;
    state.viewSeconds = state.duration;
    const video = info.streams.find((s) => s.type === 'video');
    $('info').textContent = `${info.formatName} · ${state.duration.toFixed(2)} s` +
      (video ? ` · ${video.width}x${video.height} ${video.codec}` : '') + ` · ${info.streams.length} streams`;
    $('generate').disabled = false;
    status('');
    drawWaveform();
  } catch (error) {
    status(error.message);
  }
}

async function toggle() {
  const preview = await client.setQuality({ mode: state.mode === 'proxy' ? 'source' : 'proxy' });
  showBadge(preview);
}

async function generate() {
  $('progress').value = 0;
  $('progress-text').textContent = '0 %';
  try {
    const generated = await client.generate({ sourcePath: state.path, backgroundGeneration: false }, {
      onProgress: (value) => {
        if (typeof value.percentage === 'number') {
          $('progress').value = value.percentage;
          $('progress-text').textContent = `${value.percentage} %`;
        }
      },
    });
    if (generated.status === 'notNeeded') {
      // The source is its own proxy: say so rather than make a copy larger than it.
      $('progress-text').textContent = 'not needed';
      status(`No proxy needed: ${generated.reason}.`);
      return;
    }
    $('progress').value = 100;
    $('progress-text').textContent = '100 %';
    await refreshStats();
  } catch (error) {
    status(error.message);
  }
}

// The waveform of the visible range, drawn window by window as they stream in; zooming or scrolling aborts the
// request that no longer matches the view.
async function drawWaveform() {
  if (!state.path || state.viewSeconds <= 0) return;
  state.waveform?.abort();
  const controller = new AbortController();
  state.waveform = controller;
  const canvas = $('waveform');
  const context = canvas.getContext('2d');
  context.clearRect(0, 0, canvas.width, canvas.height);
  const start = state.viewStart, seconds = state.viewSeconds, end = Math.min(state.duration, start + seconds);
  $('view').textContent = `${start.toFixed(2)}–${end.toFixed(2)} s`;
  const pixelsPerSecond = canvas.width / seconds;
  try {
    const stream = client.requestWaveformRange({ sourcePath: state.path, startTime: start, endTime: end, pixelsPerSecond,
      visibleStart: start, visibleEnd: end, windowSeconds: Math.max(seconds / 8, 0.05) }, { signal: controller.signal });
    for await (const window of stream) {
      if (controller.signal.aborted) return;
      const x0 = (window.startTime - start) * pixelsPerSecond;
      const step = (window.endTime - window.startTime) * pixelsPerSecond / window.max.length;
      const middle = canvas.height / 2;
      context.fillStyle = '#1f6feb';
      window.max.forEach((max, i) => {
        const top = middle - max * middle, bottom = middle - window.min[i] * middle;
        context.fillRect(x0 + i * step, top, Math.max(step, 1), Math.max(bottom - top, 1));
      });
    }
  } catch (error) {
    if (error.name !== 'AbortError') status(error.message);
  }
}

function zoom(factor) {
  const centre = state.viewStart + state.viewSeconds / 2;
  state.viewSeconds = Math.min(state.duration, Math.max(0.5, state.viewSeconds * factor));
  state.viewStart = Math.max(0, Math.min(state.duration - state.viewSeconds, centre - state.viewSeconds / 2));
  $('scroll').value = state.duration > state.viewSeconds ? 1000 * state.viewStart / (state.duration - state.viewSeconds) : 0;
  drawWaveform();
}

function scroll() {
  state.viewStart = (state.duration - state.viewSeconds) * $('scroll').value / 1000;
  drawWaveform();
}

// A thumbnail of the picture under the pointer (the previous request is aborted when the pointer moves on).
async function scrub(event) {
  if (!state.path) return;
  const bounds = $('waveform').getBoundingClientRect();
  const time = Math.min(state.duration - 0.001, state.viewStart + (event.clientX - bounds.left) / bounds.width * state.viewSeconds);
  state.frame?.abort();
  const controller = new AbortController();
  state.frame = controller;
  try {
    const frame = await client.requestFrame({ sourcePath: state.path, time: Math.max(0, time), width: 160 },
      { signal: controller.signal });
    $('thumbnail').src = `data:image/jpeg;base64,${frame.data}`;
    $('scrub-time').textContent = `${frame.time.toFixed(2)} s (${frame.fromProxy ? 'proxy' : 'source'})`;
  } catch (error) {
    if (error.name !== 'AbortError') status(error.message);
  }
}

async function refreshStats() {
  const stats = await client.stats();
  $('stat-proxies').textContent = String(stats.totalProxies);
  $('stat-size').textContent = `${(stats.totalCacheSizeBytes / 1048576).toFixed(2)} MiB`;
  $('stat-saved').textContent = `${stats.spaceSavedPercent.toFixed(1)} %`;
}

async function clear() {
  await client.clearCache({ scope: 'all' });
  await refreshStats();
}

$('open-button').addEventListener('click', open);
$('toggle').addEventListener('click', toggle);
$('generate').addEventListener('click', generate);
$('zoom-in').addEventListener('click', () => zoom(0.5));
$('zoom-out').addEventListener('click', () => zoom(2));
$('scroll').addEventListener('input', scroll);
$('waveform').addEventListener('mousemove', scrub);
$('clear').addEventListener('click', clear);
connect().catch((error) => status(`cannot connect: ${error.message}`));
