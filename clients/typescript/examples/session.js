// A runnable session: node examples/session.js /path/to/clip.mp4 [path to aura-media]
import { AuraMediaClient } from '../index.js';

const [clip, command] = process.argv.slice(2);
if (!clip) {
  console.error('usage: node examples/session.js MEDIA_FILE [AURA_MEDIA_BINARY]');
  process.exit(2);
}
const client = await AuraMediaClient.spawn({ command });
client.on('window/logMessage', ({ message }) => console.log(`server: ${message}`));
const info = await client.probe({ path: clip });
console.log(`${info.formatName}, ${info.durationSeconds} s, ${info.streams.length} streams`);
const generated = await client.generate({ sourcePath: clip, quality: 'Draft', backgroundGeneration: false },
  { onProgress: (p) => p.kind === 'report' && console.log(`proxy ${p.percentage}% ${p.message ?? ''}`) });
if (generated.status === 'notNeeded') console.log(`no proxy: ${generated.reason}`);
else console.log(`proxy: ${generated.proxy.proxyPath} (${generated.proxy.width}x${generated.proxy.height})`);
for await (const window of client.requestWaveformRange({ sourcePath: clip, startTime: 0, endTime: Math.min(10, info.durationSeconds), pixelsPerSecond: 50 })) {
  console.log(`waveform window ${window.index}: ${window.startTime.toFixed(1)}-${window.endTime.toFixed(1)} s, ${window.max.length} pixels`);
}
const frame = await client.requestFrame({ sourcePath: clip, time: 1, width: 320 });
console.log(`frame at ${frame.time} s: ${frame.width}x${frame.height} ${frame.format}, ${frame.fromProxy ? 'from the proxy' : 'from the source'}`);
console.log('metrics status:', (await client.getMetricsSummary()).status);
console.log(`server exited with ${await client.close()}`);
