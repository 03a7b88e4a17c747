// `aura-media bridge` with this client over a real WebSocket (Node's, `--experimental-websocket` on Node 20).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { get } from 'node:http';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuraMediaClient, ServerExitedError } from '../index.js';

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.AURA_MEDIA_BINARY ?? join(here, '..', '..', '..', '.build', 'debug', 'aura-media');
let work, clip, bridge, url, log = '';

before(async () => {
  assert.equal(typeof WebSocket, 'function', 'run with node --experimental-websocket (Node 20) or Node >= 22');
  work = mkdtempSync(join(tmpdir(), 'aura-bridge-test-'));
  clip = join(work, 'clip.mp4');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=2',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=2', '-ac', '2', '-c:v', 'libx264',
    '-preset', 'ultrafast', '-c:a', 'aac', '-shortest', clip]);
  bridge = spawn(binary, ['bridge', '--port', '0', '--token', 'test-token-1234', '--max-connections', '2',
    '--max-message-bytes', '65536',
    '--cache-dir', join(work, 'proxies'), '--waveform-cache-dir', join(work, 'waveforms'),
    '--frame-cache-dir', join(work, 'frames'), '--config-dir', join(work, 'config')], { stdio: ['ignore', 'pipe', 'pipe'] });
  bridge.stderr.on('data', (chunk) => { log += chunk; });
  url = await new Promise((resolve, reject) => {
    let out = '';
    bridge.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /(ws:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]);
    });
    bridge.once('exit', (code) => reject(new Error(`the bridge exited (${code}): ${log}`)));
  });
});

after(() => {
  bridge?.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

/** The status of a GET on a connection of its own (fetch would keep it open for the WebSockets after); with
 * `upgrade`, a WebSocket upgrade request (101 when it is accepted). */
function status(target, headers = {}, upgrade = false) {
  if (upgrade) {
    headers = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers };
  }
  return new Promise((resolve, reject) => {
    const request = get(target, { agent: false, headers }, (response) => { response.resume(); resolve(response.statusCode); });
    request.on('upgrade', (response, socket) => { socket.destroy(); resolve(response.statusCode); });
    request.on('error', reject);
  });
}

async function waitForLog(pattern, count = 1) {
  for (let i = 0; i < 200; i++) {
    if ((log.match(new RegExp(pattern, 'g')) ?? []).length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail(`the bridge never logged ${pattern}: ${log}`);
}

/** Closes a client and waits until the bridge has ended its server, so its slot under --max-connections is free
 * before the next test counts on it (on a busy machine the server takes a while to go). */
async function closeAndWaitForSlot(client) {
  const closedBefore = (log.match(/connection closed/g) ?? []).length;
  await client.close();
  await waitForLog('connection closed', closedBefore + 1);
}

test('a session over the bridge, with its own server that ends with the socket', async () => {
  const client = await AuraMediaClient.connect(url);
  assert.equal(client.initializeResult.serverInfo.name, 'aura-media');
  assert.equal((await client.probe({ path: clip })).streams.length, 2);
  const stream = client.requestWaveformRange({ sourcePath: clip, startTime: 0, endTime: 2, samplesPerPixel: 960,
    windowSeconds: 0.5, visibleStart: 1, visibleEnd: 1.5 });
  const windows = [];
  for await (const window of stream) windows.push(window);
  assert.equal(windows.length, (await stream.summary).windowCount);
  const frame = await client.requestFrame({ sourcePath: clip, time: 1, width: 64 });
  assert.equal(frame.width, 64);
  assert.equal(await client.close(), 1000);
  await waitForLog('connection closed: aura-media \\d+ ended');
});

test('without the token, or from another origin, nothing is served', async () => {
  const http = url.replace('ws://', 'http://');
  const bare = http.slice(0, http.indexOf('?'));
  for (const upgrade of [true, false]) {
    assert.equal(await status(bare, {}, upgrade), 401, 'no token');
    assert.equal(await status(`${bare}?token=wrong-token-000`, {}, upgrade), 401, 'a wrong token');
    assert.equal(await status(http, { origin: 'http://evil.example' }, upgrade), 403, 'a foreign origin');
    assert.equal(await status(bare.replace('/rpc', '/elsewhere'), {}, upgrade), 404, 'another path');
  }
  assert.equal(await status(http), 400, 'a plain GET with the token is told to upgrade');
  const closedBefore = (log.match(/connection closed/g) ?? []).length;
  assert.equal(await status(bare, { authorization: 'Bearer test-token-1234' }, true), 101, 'a bearer token is let in');
  assert.equal(await status(http, { origin: new URL(http).origin }, true), 101, "the bridge's own origin is let in");
  await waitForLog('connection closed', closedBefore + 2);  // those two vanished: their servers are ended
  // A refused upgrade never opens a socket.
  const refused = new WebSocket(bare);
  const outcome = await new Promise((resolve) => {
    refused.addEventListener('open', () => resolve('open'));
    refused.addEventListener('error', () => resolve('refused'));
  });
  assert.equal(outcome, 'refused');
});

test('a client vanishing mid-request ends its server; the bridge keeps serving', async () => {
  const before = (log.match(/connection closed/g) ?? []).length;
  const socket = new WebSocket(url);
  await new Promise((resolve) => socket.addEventListener('open', resolve));
  socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }));
  await new Promise((resolve) => socket.addEventListener('message', resolve, { once: true }));
  socket.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping', params: { delayMilliseconds: 20000 } }));
  socket.close();  // gone without shutdown
  await waitForLog('connection closed: aura-media \\d+ ended', before + 1);
  const client = await AuraMediaClient.connect(url);
  assert.equal((await client.ping({ echo: 'still here' })).echo, 'still here');
  await closeAndWaitForSlot(client);
});

test('a message over --max-message-bytes closes the connection (1009); the bridge keeps serving', async () => {
  const closedBefore = (log.match(/connection closed/g) ?? []).length;
  const socket = new WebSocket(url);
  await new Promise((resolve) => socket.addEventListener('open', resolve));
  const closed = new Promise((resolve) => socket.addEventListener('close', (event) => resolve(event.code)));
  socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { echo: 'x'.repeat(100_000) } }));
  assert.equal(await closed, 1009);
  await waitForLog('connection closed', closedBefore + 1);  // its server was ended
  const client = await AuraMediaClient.connect(url);
  assert.equal((await client.ping({ echo: 'small' })).echo, 'small');
  await closeAndWaitForSlot(client);
});

test('connections beyond --max-connections are turned away', async () => {
  const closedBefore = (log.match(/connection closed/g) ?? []).length;
  const first = await AuraMediaClient.connect(url);
  const second = await AuraMediaClient.connect(url);
  await assert.rejects(AuraMediaClient.connect(url), /WebSocket|closed|connections/);
  await first.close();
  await second.close();
  await waitForLog('connection closed', closedBefore + 2);  // their servers ended: the slots are free again
});

test('a server that dies closes the socket with the reason and fails pending requests', async () => {
  const client = await AuraMediaClient.connect(url);
  const closed = new Promise((resolve) => client.on('close', resolve));
  const pending = client.ping({ delayMilliseconds: 20000 });
  const started = [...log.matchAll(/started aura-media (\d+)/g)];
  const pid = Number(started.at(-1)?.[1]);
  assert.ok(pid > 0, log);
  process.kill(pid, 'SIGKILL');
  await assert.rejects(pending, ServerExitedError);
  assert.match(await closed, /killed by signal 9/);
});
