// The TypeScript/JavaScript client against the real server (the binary built by `swift build`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuraMediaClient, AuraMediaError, ServerExitedError } from '../index.js';
import { encodeFrame, FrameDecoder } from '../framing.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const binary = process.env.AURA_MEDIA_BINARY ?? join(root, '.build', 'debug', 'aura-media');
let work;
let clip;

before(() => {
  assert.ok(existsSync(binary), `no aura-media binary at ${binary}: build it first (swift build)`);
  work = mkdtempSync(join(tmpdir(), 'aura-ts-client-'));
  clip = join(work, 'clip.mp4');
  // A fixture made by the ffmpeg CLI (tests may use it; the product never does).
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=4',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=4', '-ac', '2', '-c:v', 'libx264',
    '-preset', 'ultrafast', '-c:a', 'aac', '-movflags', '+faststart', '-shortest', clip]);
});
after(() => rmSync(work, { recursive: true, force: true }));

let servers = 0;
function serverArgs() {
  const dir = join(work, `server-${++servers}`);
  return ['serve', '--cache-dir', join(dir, 'proxies'), '--waveform-cache-dir', join(dir, 'waveforms'),
    '--frame-cache-dir', join(dir, 'frames'), '--config-dir', join(dir, 'config')];
}

test('every OpenRPC method and notification has a typed method or event', () => {
  const document = JSON.parse(readFileSync(join(root, 'protocol', 'openrpc.json'), 'utf8'));
  const declarations = readFileSync(join(here, '..', 'index.d.ts'), 'utf8');
  const classBody = declarations.slice(declarations.indexOf('export declare class AuraMediaClient'));
  const eventsStart = declarations.indexOf('export interface ClientEvents');
  const eventsBody = declarations.slice(eventsStart, declarations.indexOf('\n}\n', eventsStart));
  const lifecycle = new Set(['initialize', 'shutdown', 'initialized', 'exit', '$/cancelRequest']);
  const notificationMethods = { setPlayhead: 'setPlayhead', 'telemetry/report': 'reportTelemetry' };
  for (const method of document.methods) {
    const name = method.name;
    if (lifecycle.has(name)) continue;
    if (method['x-direction'] === 'serverToClient') {
      assert.ok(eventsBody.includes(`'${name}'`) || eventsBody.includes(`${name}:`), `event ${name} is not typed`);
      continue;
    }
    const typed = notificationMethods[name] ?? name;
    assert.equal(typeof AuraMediaClient.prototype[typed], 'function', `${name}: no client.${typed}()`);
    assert.match(classBody, new RegExp(`\\n\\s+${typed.replace('$', '\\$')}\\(`), `${name}: ${typed} not declared in index.d.ts`);
  }
});

test('a session: probe, generate with progress, the quality toggle, waveform windows, frames, metrics', async () => {
  const client = await AuraMediaClient.spawn({ command: binary, args: serverArgs(), clientName: 'node-test' });
  assert.equal(client.initializeResult.serverInfo.name, 'aura-media');
  const info = await client.probe({ path: clip });
  assert.equal(info.streams[0].width, 320);
  const progress = [];
  // The clip is under Draft's box: forced (without, the answer is notNeeded).
  const generated = await client.generate({ sourcePath: clip, quality: 'Draft', backgroundGeneration: false, force: true },
    { onProgress: (value) => progress.push(value) });
  assert.equal(generated.proxy.status, 'completed');
  assert.equal(progress[0].kind, 'begin');
  assert.equal(progress.at(-1).kind, 'end');
  const badges = [];
  client.on('previewModeChanged', (state) => badges.push(state.badge.label));
  await client.setQuality({ mode: 'proxy', quality: 'Draft' });
  assert.equal((await client.resolve({ sourcePath: clip })).usingProxy, true);
  await client.setQuality({ mode: 'source' });
  assert.deepEqual(badges, ['Proxy Active', 'Source Quality']);

  const stream = client.requestWaveformRange({ sourcePath: clip, startTime: 0, endTime: 4, samplesPerPixel: 480,
    windowSeconds: 1, visibleStart: 2, visibleEnd: 3 });
  const windows = [];
  for await (const window of stream) windows.push(window);
  const summary = await stream.summary;
  assert.equal(windows.length, summary.windowCount);
  assert.ok(windows[0].startTime < 3 && windows[0].endTime > 2, 'the visible window comes first');
  assert.equal(windows.at(-1).startTime, 0);
  const whole = await client.requestWaveformRange({ sourcePath: clip, startTime: 0, endTime: 4, samplesPerPixel: 480 },
    { stream: false });
  assert.equal(whole.windows.length, whole.windowCount);

  const frame = await client.requestFrame({ sourcePath: clip, time: 1.5, width: 160 });
  assert.equal(frame.width, 160);
  assert.equal(Buffer.from(frame.data, 'base64').subarray(0, 2).toString('hex'), 'ffd8', 'a JPEG');
  client.setPlayhead({ sourcePath: clip, time: 1, rate: 1 });
  client.reportTelemetry({ scrubLatencyMs: 14, playbackFps: 25, cacheHit: true });
  await client.ping();
  const metrics = await client.getMetricsSummary();
  assert.equal(metrics.scrubLatencySource, 'client');
  assert.equal(metrics.playbackFps.current, 25);
  await assert.rejects(client.probe({ path: `${clip}.missing` }),
    (error) => error instanceof AuraMediaError && error.code === -32001 && error.data.cause === 'fileNotFound');
  assert.equal(await client.close(), 0);
});

test('an AbortSignal cancels the request on the server', async () => {
  const client = await AuraMediaClient.spawn({ command: binary, args: serverArgs() });
  const controller = new AbortController();
  const slow = client.ping({ echo: 'slow', delayMilliseconds: 20000 }, { signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(slow, (error) => error.name === 'AbortError');
  assert.equal((await client.ping({ echo: 'after' })).echo, 'after');
  let ping;
  for (let attempt = 0; attempt < 50; attempt++) {
    ping = (await client.getMetricsSummary()).methods.ping;
    if (ping?.errors === 1) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(ping.count, 2);
  assert.equal(ping.errors, 1, 'the server answered the cancelled ping -32800');
  await client.close();
});

test('a crashed server rejects every pending request, saying so', async () => {
  const client = await AuraMediaClient.spawn({ command: binary, args: serverArgs() });
  const closed = new Promise((resolve) => client.on('close', resolve));
  const pending = [1, 2, 3].map(() => client.ping({ delayMilliseconds: 10000 }));
  await new Promise((resolve) => setTimeout(resolve, 100));
  process.kill(client.pid, 'SIGKILL');
  for (const request of pending) {
    await assert.rejects(request, (error) => error instanceof ServerExitedError && /exited with signal SIGKILL/.test(error.message));
  }
  assert.match(await closed, /SIGKILL/);
  await assert.rejects(client.ping(), ServerExitedError);
});

test('a missing binary is a clear error', async () => {
  await assert.rejects(AuraMediaClient.spawn({ command: join(work, 'no-such-aura-media') }), /ENOENT/);
});

test('the same API over a WebSocket transport (one JSON-RPC message per text frame)', async () => {
  // A stand-in for `aura-media bridge`: a WebSocket-like object whose frames go to a spawned server and back.
  const child = spawn(binary, serverArgs(), { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const decoder = new FrameDecoder();
  const listeners = { open: [], message: [], close: [], error: [] };
  const socket = {
    readyState: 1,
    addEventListener(type, listener) { listeners[type].push(listener); },
    send(text) { child.stdin.write(encodeFrame(JSON.parse(text))); },
    close(code = 1000, reason = '') {
      if (this.readyState !== 1) return;
      this.readyState = 2;
      child.stdin.end();
      exited.then(() => { this.readyState = 3; listeners.close.forEach((l) => l({ code, reason })); });
    },
  };
  child.stdout.on('data', (chunk) => {
    for (const body of decoder.push(chunk)) listeners.message.forEach((l) => l({ data: body }));
  });
  const client = await AuraMediaClient.connect('ws://127.0.0.1:8765/rpc', { socket });
  assert.equal(client.initializeResult.serverInfo.name, 'aura-media');
  assert.equal((await client.probe({ path: clip })).streams.length, 2);
  const stream = client.requestWaveformRange({ sourcePath: clip, startTime: 0, endTime: 2, samplesPerPixel: 960 });
  let count = 0;
  for await (const window of stream) count += window.max.length > 0 ? 1 : 0;
  assert.equal(count, (await stream.summary).windowCount);
  assert.equal(await client.close(), 1000);
});

