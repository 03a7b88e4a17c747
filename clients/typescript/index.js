// AuraMedia client: the protocol of protocol/spec.md over a spawned `aura-media` (Node) or the WebSocket bridge
// (Node or a browser). No dependencies; ES module. Types: index.d.ts.

/** An error response from the server (`code`, `message`, `data` as in protocol/spec.md §6). */
export class AuraMediaError extends Error {
  constructor(error) {
    super(`${error.code}: ${error.message}`);
    this.name = 'AuraMediaError';
    this.code = error.code;
    this.data = error.data;
  }
}

/** The server (or the connection to it) went away while requests were pending. */
export class ServerExitedError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ServerExitedError';
  }
}

export class AuraMediaClient {
  #transport;
  #nextId = 1;
  #pending = new Map();      // id → {resolve, reject, method, tokens}
  #tokens = new Map();       // progress or partial-result token → handlers
  #listeners = new Map();    // notification method → Set of listeners
  #closed = null;            // ServerExitedError once the transport ended
  /** The `initialize` result. */
  initializeResult = null;

  constructor(transport) {
    this.#transport = transport;
    transport.onMessage = (message) => this.#dispatch(message);
    transport.onClose = (reason) => this.#ended(reason);
  }

  /**
   * Starts `aura-media` (default: on PATH, or $AURA_MEDIA_BINARY) as a child process and initializes it.
   * @param {{command?: string, args?: string[], env?: object, cwd?: string, initializationOptions?: object, clientName?: string}} options
   */
  static async spawn(options = {}) {
    const { spawn } = await import('node:child_process');
    const { encodeFrame, FrameDecoder } = await import('./framing.js');
    const command = options.command ?? process.env.AURA_MEDIA_BINARY ?? 'aura-media';
    const child = spawn(command, options.args ?? [], { env: options.env ?? process.env, cwd: options.cwd,
                                                         stdio: ['pipe', 'pipe', 'pipe'] });
    const transport = new StdioTransport(child, encodeFrame, new FrameDecoder());
    await transport.started;
    const client = new AuraMediaClient(transport);
    await client.#initialize(options);
    return client;
  }

  /**
   * Connects through the WebSocket bridge (`aura-media bridge`): `url` like `ws://127.0.0.1:8765/rpc?token=…`.
   * `options.WebSocket` supplies the implementation where there is no global one (Node 20); `options.socket` an
   * already created WebSocket-like object (`send`, `close`, `readyState`, `addEventListener`).
   */
  static async connect(url, options = {}) {
    let socket = options.socket;
    if (!socket) {
      const Implementation = options.WebSocket ?? globalThis.WebSocket;
      if (!Implementation) throw new Error('no WebSocket implementation: pass options.WebSocket');
      socket = new Implementation(url);
    }
    const transport = new WebSocketTransport(socket);
    await transport.started;
    const client = new AuraMediaClient(transport);
    await client.#initialize(options);
    return client;
  }

  async #initialize(options) {
    const params = { clientInfo: { name: options.clientName ?? 'aura-media-client' } };
    if (typeof process !== 'undefined' && process.pid) params.processId = process.pid;
    if (options.initializationOptions) params.initializationOptions = options.initializationOptions;
    try {
      this.initializeResult = await this.request('initialize', params);
    } catch (error) {
      this.#transport.kill?.();
      throw error;
    }
    this.notify('initialized', {});
    return this.initializeResult;
  }

  /**
   * Sends a request. `signal` aborts it (`$/cancelRequest`; the promise rejects with the signal's reason);
   * `onProgress` adds a `workDoneToken` and gets each `$/progress` value; `onPartialResult` adds a
   * `partialResultToken` and gets each partial result.
   */
  request(method, params = undefined, { signal, onProgress, onPartialResult } = {}) {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    const message = { jsonrpc: '2.0', id, method };
    const body = params === undefined ? {} : { ...params };
    const tokens = [];
    if (onProgress) {
      body.workDoneToken ??= `progress-${id}`;
      this.#tokens.set(body.workDoneToken, onProgress);
      tokens.push(body.workDoneToken);
    }
    if (onPartialResult) {
      body.partialResultToken ??= `partial-${id}`;
      this.#tokens.set(body.partialResultToken, onPartialResult);
      tokens.push(body.partialResultToken);
    }
    if (params !== undefined || tokens.length) message.params = body;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason ?? abortError());
        return;
      }
      const entry = { resolve, reject, method, tokens };
      this.#pending.set(id, entry);
      if (signal) {
        const abort = () => {
          if (!this.#pending.has(id)) return;
          this.#settle(id);
          if (!this.#closed) this.notify('$/cancelRequest', { id });
          reject(signal.reason ?? abortError());
        };
        signal.addEventListener('abort', abort, { once: true });
        entry.cleanup = () => signal.removeEventListener('abort', abort);
      }
      try {
        this.#transport.send(message);
      } catch (error) {
        this.#settle(id);
        reject(error);
      }
    });
  }

  /** The server's process id (spawned sessions). */
  get pid() { return this.#transport.pid; }

  /** Sends a notification. */
  notify(method, params = undefined) {
    if (this.#closed) throw this.#closed;
    const message = { jsonrpc: '2.0', method };
    if (params !== undefined) message.params = params;
    this.#transport.send(message);
  }

  /** Listens to a server notification (`window/logMessage`, `previewModeChanged`, `$/progress` of tokens no
   * request owns, such as a background job's id) or to `close` (the server went away). Returns a remover. */
  on(event, listener) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(listener);
    return () => this.#listeners.get(event)?.delete(listener);
  }

  /** `shutdown`, `exit`, and the end of the process or connection. Resolves with the exit status (stdio). */
  async close({ timeoutMs = 10_000 } = {}) {
    if (!this.#closed) {
      try {
        await withTimeout(this.request('shutdown'), timeoutMs);
        this.notify('exit');
      } catch {
        // The server is gone or stuck: the transport ends it below.
      }
    }
    return this.#transport.close(timeoutMs);
  }

  #settle(id) {
    const entry = this.#pending.get(id);
    if (!entry) return undefined;
    this.#pending.delete(id);
    for (const token of entry.tokens) this.#tokens.delete(token);
    entry.cleanup?.();
    return entry;
  }

  #dispatch(message) {
    if (message.id !== undefined && message.id !== null && ('result' in message || 'error' in message)) {
      const entry = this.#settle(message.id);
      if (!entry) return;
      if (message.error) entry.reject(new AuraMediaError(message.error));
      else entry.resolve(message.result);
      return;
    }
    if (typeof message.method !== 'string') return;
    if (message.method === '$/progress' && this.#tokens.has(message.params?.token)) {
      this.#tokens.get(message.params.token)(message.params.value);
      return;
    }
    this.#emit(message.method, message.params);
  }

  #emit(event, value) {
    for (const listener of this.#listeners.get(event) ?? []) listener(value);
  }

  #ended(reason) {
    if (this.#closed) return;
    this.#closed = new ServerExitedError(reason);
    for (const id of [...this.#pending.keys()]) this.#settle(id).reject(this.#closed);
    this.#emit('close', reason);
  }

  // -- The protocol's methods (protocol/spec.md §8), each with its params object. ----------------------------
  ping(params = {}, options) { return this.request('ping', params, options); }
  probe(params, options) { return this.request('probe', params, options); }
  /** Progress (`begin`, `report` with `percentage` and `framesPerSecond`, `end`) goes to `options.onProgress`. */
  generate(params, options) { return this.request('generate', params, options); }
  status(params, options) { return this.request('status', params, options); }
  cancelGeneration(params, options) { return this.request('cancelGeneration', params, options); }
  stats(options) { return this.request('stats', {}, options); }
  clearCache(params = {}, options) { return this.request('clearCache', params, options); }
  setQuality(params, options) { return this.request('setQuality', params, options); }
  resolve(params, options) { return this.request('resolve', params, options); }
  getSettings(options) { return this.request('getSettings', {}, options); }
  updateSettings(params, options) { return this.request('updateSettings', params, options); }
  exportWaveform(params, options) { return this.request('exportWaveform', params, options); }
  requestFrame(params, options) { return this.request('requestFrame', params, options); }
  getMetricsSummary(options) { return this.request('getMetricsSummary', {}, options); }
  importMedia(params, options) { return this.request('importMedia', params, options); }

  /**
   * Waveform windows. Streamed (default): an async iterator of windows in arrival order (visible ones first)
   * whose `summary` promise gives the result; `{stream: false}`: a promise of the result with every window.
   */
  requestWaveformRange(params, { stream = true, signal } = {}) {
    if (!stream) return this.request('requestWaveformRange', params, { signal });
    const queue = [];
    let wake = null;
    let finished = false;
    let failure = null;
    const summary = this.request('requestWaveformRange', params, {
      signal,
      onPartialResult: (value) => {
        queue.push(...(value?.windows ?? []));
        wake?.();
      },
    });
    summary.then(() => { finished = true; wake?.(); }, (error) => { failure = error; finished = true; wake?.(); });
    const iterator = {
      summary,
      async next() {
        for (;;) {
          if (queue.length) return { value: queue.shift(), done: false };
          if (failure) throw failure;
          if (finished) return { value: undefined, done: true };
          await new Promise((resolve) => { wake = resolve; });
          wake = null;
        }
      },
      [Symbol.asyncIterator]() { return this; },
    };
    summary.catch(() => {});  // surfaced by next() or by awaiting `summary`
    return iterator;
  }

  // Notifications to the server.
  setPlayhead(params) { this.notify('setPlayhead', params); }
  reportTelemetry(params) { this.notify('telemetry/report', params); }
}

// -- transports ------------------------------------------------------------------------------------------------

class StdioTransport {
  onMessage = () => {};
  onClose = () => {};
  #child;
  #encode;
  #stderr = '';
  #exited;

  constructor(child, encode, decoder) {
    this.#child = child;
    this.#encode = encode;
    this.started = new Promise((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    child.stdout.on('data', (chunk) => {
      for (const body of decoder.push(chunk)) {
        let message;
        try { message = JSON.parse(body); } catch { continue; }
        this.onMessage(message);
      }
    });
    child.stderr.on('data', (chunk) => { this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-8192); });
    child.stdin.on('error', () => {});  // EPIPE after a crash: reported by 'exit'
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const tail = this.#stderr.trim().split('\n').slice(-3).join(' | ');
        const status = signal ? `signal ${signal}` : `status ${code}`;
        // Let stdout deliver what the process wrote before it ended.
        setImmediate(() => {
          this.onClose(`aura-media exited with ${status}` + (code !== 0 && tail ? `: ${tail}` : ''));
          resolve(signal ? -1 : code);
        });
      });
    });
  }

  send(message) {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
      throw new ServerExitedError('aura-media is not running');
    }
    this.#child.stdin.write(this.#encode(message));
  }

  kill() { this.#child.kill('SIGKILL'); }

  get pid() { return this.#child.pid; }

  async close(timeoutMs) {
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    const status = await this.#exited;
    clearTimeout(timer);
    return status;
  }
}

class WebSocketTransport {
  onMessage = () => {};
  onClose = () => {};
  #socket;
  #closed;

  constructor(socket) {
    this.#socket = socket;
    this.started = new Promise((resolve, reject) => {
      if (socket.readyState === 1) resolve();
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error('the WebSocket connection failed')), { once: true });
    });
    this.#closed = new Promise((resolve) => {
      socket.addEventListener('close', (event) => {
        this.onClose(`the bridge closed the connection (${event.code}${event.reason ? `: ${event.reason}` : ''})`);
        resolve(event.code);
      });
    });
    socket.addEventListener('message', (event) => {
      let message;
      try { message = JSON.parse(typeof event.data === 'string' ? event.data : String(event.data)); } catch { return; }
      this.onMessage(message);
    });
  }

  send(message) {
    if (this.#socket.readyState !== 1) throw new ServerExitedError('the WebSocket connection is closed');
    this.#socket.send(JSON.stringify(message));
  }

  kill() { this.#socket.close(); }

  async close(timeoutMs) {
    const timer = setTimeout(() => this.#socket.close(), timeoutMs);
    this.#socket.close(1000, 'done');
    const code = await this.#closed;
    clearTimeout(timer);
    return code;
  }
}

function abortError() {
  const error = new Error('the request was aborted');
  error.name = 'AbortError';
  return error;
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), ms); })])
    .finally(() => clearTimeout(timer));
}
