// Types of the AuraMedia protocol (protocol/openrpc.json) and of the client. Results list the members clients
// rely on; the OpenRPC document has every one.

export type Quality = 'Draft' | 'Preview' | 'High';
export type ImageFormat = 'jpeg' | 'png' | 'rgba';
export type ProgressToken = string | number;

export interface ResponseErrorObject { code: number; message: string; data?: unknown }

export declare class AuraMediaError extends Error {
  readonly code: number;
  readonly data?: unknown;
  constructor(error: ResponseErrorObject);
}

/** The server (or the bridge connection) went away while requests were pending. */
export declare class ServerExitedError extends Error {}

export interface StreamInfo {
  index: number; type: 'video' | 'audio' | 'subtitle' | 'data' | 'attachment' | 'unknown'; codec: string;
  width?: number; height?: number; frameRate?: number; sampleRate?: number; channels?: number;
  durationSeconds?: number; rotation?: number; channelLayout?: string;
  /** Video streams: the HDR transfer, null for SDR (such sources are tone-mapped to SDR BT.709). */
  hdr?: 'pq' | 'hlg' | null;
  /** Audio streams: the number waveform requests name with `audioStream` (0 is the primary). */
  audioStream?: number; language?: string; title?: string; [member: string]: unknown;
}
export interface MediaInfo {
  formatName: string; durationSeconds?: number; sizeBytes: number; streams: StreamInfo[]; [member: string]: unknown;
}

export interface ServerSettings {
  cacheDirectory: string; cacheLimitBytes: number; maxConcurrentJobs: number; hardwareAcceleration: 'off' | 'auto';
  waveformCacheDirectory: string; frameCacheDirectory: string; frameCacheBytes: number;
  proxyGenerationEnabled: boolean; defaultQuality: Quality; scalePercent: number | null; telemetryWindowSeconds: number;
}
export type SettingsPatch = Partial<ServerSettings>;

export interface PreviewState { mode: 'proxy' | 'source'; quality: Quality; badge: { label: string; color: 'blue' | 'green' } }

export interface ProxyRecord {
  sourcePath: string; sourceFingerprint: string; quality: Quality; proxyPath: string; width: number; height: number;
  status: 'queued' | 'generating' | 'completed' | 'failed' | 'cancelled' | 'stale'; progressPercent: number;
  durationSeconds: number; proxySizeBytes: number; jobId?: string; error?: string;
  /** The proxy's parts (video segments plus one for the audio), how many are finished, and the seconds they cover. */
  segmentCount?: number; segmentsCompleted?: number; coverage?: Array<[number, number]>; [member: string]: unknown;
}
export interface GenerateParams {
  sourcePath: string; quality?: Quality; backgroundGeneration?: boolean; priority?: number; overwrite?: boolean;
  scalePercent?: number; force?: boolean;
  /** Seconds: where the user looks; the segment holding it is made first. */
  startTime?: number; workDoneToken?: ProgressToken;
}
/** `status` is the job's, or `notNeeded` (no job, `jobId` empty): the source is no larger than the quality's box. */
export interface GenerateResult {
  jobId: string; status: string; sourcePath: string; quality: Quality; progressPercent: number; joined: boolean;
  proxy?: ProxyRecord; reason?: string;
  /** Finished parts of an earlier, interrupted attempt that the job continues from. */
  resumedSegments?: number;
}
export type StatusResult = ProxyRecord | { status: 'none'; sourcePath: string; quality: Quality };
export interface CancelGenerationResult { jobId: string; cancelled: boolean; status: string }
export interface StatsResult {
  totalProxies: number; totalCacheSizeBytes: number; totalSourceSizeBytes: number; compressionRatio: number;
  spaceSavedPercent: number; cacheLimitBytes: number; queuedJobs: number; runningJobs: number; cacheDirectory: string;
  byQuality: Record<Quality, { count: number; sizeBytes: number }>; segmentsSizeBytes: number; waveformCache?: object;
  frameCache?: object;
}
export interface ClearCacheResult { deletedFiles: number; freedBytes: number; keptInUse?: number; clearedFrames?: number; [member: string]: unknown }
export interface ResolveResult {
  path: string; usingProxy: boolean; mode: 'proxy' | 'source'; quality: Quality; reason: string; proxyStatus: string;
  progressPercent?: number;
  /** A proxy still being made: an HLS EVENT playlist of its finished segments around the playhead, and what it spans. */
  partialProxy?: { playlistPath: string; coverage: [number, number] };
}

export interface WaveformRangeParams {
  sourcePath: string; startTime: number; endTime: number; samplesPerPixel?: number; pixelsPerSecond?: number;
  channels?: 'mixed' | 'all'; visibleStart?: number; visibleEnd?: number; windowSeconds?: number;
  encoding?: 'json' | 'base64';
  /** Which audio stream (`StreamInfo.audioStream`); 0, the primary, by default. */
  audioStream?: number;
}
/** Peaks in −1…1 and RMS in 0…1 (json encoding: one array, or one per channel with channels "all"); base64 of
 * little-endian 16-bit integers with encoding "base64". */
export type WaveformSeries = number[] | number[][] | string | string[];
export interface WaveformWindow {
  index: number; startTime: number; endTime: number; samplesPerPixel: number; channelCount: number;
  min: WaveformSeries; max: WaveformSeries; rms: WaveformSeries;
}
export interface WaveformSummary {
  windowCount: number; sampleRate: number; channelCount: number; duration: number; audioStartTime: number;
  fromCache: boolean; samplesPerPixel: number; startTime: number; endTime: number;
  /** In time order; present only when not streamed. */
  windows?: WaveformWindow[];
}
/** Streamed windows in arrival order, with the request's result. */
export interface WaveformStream extends AsyncIterableIterator<WaveformWindow> { summary: Promise<WaveformSummary> }

export interface ExportWaveformParams {
  sourcePath: string; outputPath: string; format?: 'dat' | 'json'; samplesPerPixel?: number; bits?: 8 | 16;
  channels?: 'mixed' | 'all';
  /** Which audio stream (`StreamInfo.audioStream`); 0, the primary, by default. */
  audioStream?: number;
}
export interface RequestFrameParams {
  sourcePath: string; time: number; width?: number; height?: number; format?: ImageFormat; quality?: number;
  accurate?: boolean; delivery?: 'inline' | 'file';
}
export interface RequestFrameResult {
  time: number; width: number; height: number; format: ImageFormat; fromProxy: boolean; fromCache: boolean;
  data?: string; path?: string;
}
export interface Latency { p50?: number; p95?: number; p99?: number; samples: number }
export type TargetStatus = 'ok' | 'warning' | 'no data';
export interface MetricsSummary {
  windowSeconds: number;
  playbackFps: { current?: number; p5?: number; p50?: number; reports: number };
  scrubLatencyMs: Latency; scrubLatencySource: 'client' | 'server' | 'none';
  cacheHitRate?: number; cacheHitRateSource: 'client' | 'server' | 'none'; droppedFrames: number;
  frameCache: { requests: number; hits: number; hitRate?: number; latencyMs: Latency; entries: number; sizeBytes: number; limitBytes: number; preloading: number };
  waveformCache: { windows: number; hits: number; hitRate?: number; latencyMs: Latency; sizeBytes?: number; analysesRunning: number };
  proxyGeneration: { completed: number; failed: number; cancelled: number; framesPerSecond?: number; realtimeFactor?: number; queued: number; running: number; cacheSizeBytes: number; cacheLimitBytes: number; cacheUsage: number };
  methods: Record<string, { count: number; errors: number; p50: number; p95: number; p99: number }>;
  targets: { playbackFps: number; scrubLatencyMs: number; cacheHitRate: number; proxyRealtimeFactor: number; proxyCacheUsage: number };
  status: Record<'playbackFps' | 'scrubLatencyMs' | 'cacheHitRate' | 'proxyRealtimeFactor' | 'proxyCacheUsage', TargetStatus>;
  suggestions: string[];
}
export interface ImportItem {
  path: string; status: 'imported' | 'skipped' | 'failed'; kind?: 'video' | 'audio' | 'image';
  proxy?: 'queued' | 'alreadyQueued' | 'fresh' | 'disabled' | 'notApplicable' | 'notNeeded'; proxyJobId?: string; quality?: Quality;
  waveform?: 'queued' | 'fresh' | 'notApplicable'; reason?: string; error?: ResponseErrorObject;
}
export interface ImportMediaResult { items: ImportItem[]; queuedProxies: number; queuedWaveforms: number }
export interface InitializeResult {
  serverInfo: { name: string; version: string }; capabilities: { methods: string[]; [member: string]: unknown };
  settings: ServerSettings; previewState: PreviewState; settingsFile?: { path: string; status: string; error?: string };
}

/** `$/progress` values: work-done progress, and (on a partial-result token) streamed results. */
export type ProgressValue =
  | { kind: 'begin'; title: string; cancellable?: boolean; message?: string; percentage?: number }
  | {
      kind: 'report'; message?: string; percentage?: number; framesPerSecond?: number; etaSeconds?: number;
      segmentCount?: number; segmentsCompleted?: number; coverage?: Array<[number, number]>;
    }
  | { kind: 'end'; message?: string; outcome?: string; jobId?: string; error?: ResponseErrorObject };

/** Server → client notifications, and `close`. */
export interface ClientEvents {
  'window/logMessage': { type: 1 | 2 | 3 | 4; message: string };
  previewModeChanged: PreviewState;
  '$/progress': { token: ProgressToken; value: ProgressValue };
  close: string;
}

export interface RequestOptions {
  /** Aborting sends `$/cancelRequest`; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Adds a `workDoneToken`; gets each `$/progress` value. */
  onProgress?: (value: ProgressValue) => void;
  /** Adds a `partialResultToken`; gets each partial result. */
  onPartialResult?: (value: any) => void;
}

export interface SpawnOptions {
  /** Default: $AURA_MEDIA_BINARY, else `aura-media` on PATH. */
  command?: string; args?: string[]; env?: Record<string, string | undefined>; cwd?: string;
  initializationOptions?: SettingsPatch; clientName?: string;
}
export interface ConnectOptions {
  /** A WebSocket implementation where there is no global one. */
  WebSocket?: new (url: string) => WebSocket;
  /** An already created WebSocket-like object to use instead. */
  socket?: Pick<WebSocket, 'send' | 'close' | 'readyState' | 'addEventListener'>;
  initializationOptions?: SettingsPatch; clientName?: string;
}

export declare class AuraMediaClient {
  /** Starts `aura-media` as a child process and initializes it (Node). */
  static spawn(options?: SpawnOptions): Promise<AuraMediaClient>;
  /** Connects through `aura-media bridge` (`ws://host:port/rpc?token=…`) and initializes. */
  static connect(url: string, options?: ConnectOptions): Promise<AuraMediaClient>;
  readonly initializeResult: InitializeResult;
  /** The server's process id (spawned sessions). */
  readonly pid: number | undefined;

  request<T = unknown>(method: string, params?: object, options?: RequestOptions): Promise<T>;
  notify(method: string, params?: object): void;
  on<E extends keyof ClientEvents>(event: E, listener: (value: ClientEvents[E]) => void): () => void;
  /** `shutdown`, `exit`, the end of the process (its exit status) or connection (the close code). */
  close(options?: { timeoutMs?: number }): Promise<number>;

  ping(params?: { echo?: unknown; delayMilliseconds?: number }, options?: RequestOptions): Promise<{ echo?: unknown; serverTime: number; [member: string]: unknown }>;
  probe(params: { path: string }, options?: RequestOptions): Promise<MediaInfo>;
  generate(params: GenerateParams, options?: RequestOptions): Promise<GenerateResult>;
  status(params: { sourcePath: string; quality?: Quality }, options?: RequestOptions): Promise<StatusResult>;
  cancelGeneration(params: { jobId?: string; sourcePath?: string; quality?: Quality }, options?: RequestOptions): Promise<CancelGenerationResult>;
  stats(options?: RequestOptions): Promise<StatsResult>;
  clearCache(params?: { scope?: 'proxies' | 'waveforms' | 'frames' | 'all'; sourcePath?: string }, options?: RequestOptions): Promise<ClearCacheResult>;
  setQuality(params: { mode: 'proxy' | 'source'; quality?: Quality }, options?: RequestOptions): Promise<PreviewState>;
  resolve(params: { sourcePath: string }, options?: RequestOptions): Promise<ResolveResult>;
  getSettings(options?: RequestOptions): Promise<ServerSettings>;
  updateSettings(params: { settings: SettingsPatch }, options?: RequestOptions): Promise<ServerSettings>;
  requestWaveformRange(params: WaveformRangeParams, options?: { stream?: true; signal?: AbortSignal }): WaveformStream;
  requestWaveformRange(params: WaveformRangeParams, options: { stream: false; signal?: AbortSignal }): Promise<WaveformSummary>;
  exportWaveform(params: ExportWaveformParams, options?: RequestOptions): Promise<{ [member: string]: unknown }>;
  requestFrame(params: RequestFrameParams, options?: RequestOptions): Promise<RequestFrameResult>;
  getMetricsSummary(options?: RequestOptions): Promise<MetricsSummary>;
  importMedia(params: { paths: string[]; quality?: Quality; recursive?: boolean }, options?: RequestOptions): Promise<ImportMediaResult>;

  /** `setPlayhead` (notification). */
  setPlayhead(params: { sourcePath: string; time: number; rate: number; width?: number; height?: number; format?: ImageFormat; quality?: number }): void;
  /** `telemetry/report` (notification). */
  reportTelemetry(params: { playbackFps?: number; scrubLatencyMs?: number; droppedFrames?: number; cacheHit?: boolean }): void;
}
