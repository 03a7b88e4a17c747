// LSP-style framing: `Content-Length: N\r\n\r\n` then N bytes of UTF-8 JSON (protocol/spec.md §2.1).

/** Encodes one message as a frame. */
export function encodeFrame(message) {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

/** Splits a byte stream into message bodies; `push` returns the JSON texts completed by a chunk. */
export class FrameDecoder {
  #buffer = Buffer.alloc(0);

  push(chunk) {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    const bodies = [];
    for (;;) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0) break;
      const headers = this.#buffer.subarray(0, end).toString('ascii');
      const match = /content-length:\s*(\d+)/i.exec(headers);
      if (!match) {
        this.#buffer = this.#buffer.subarray(end + 4);  // not a frame header: skip it, as the server does
        continue;
      }
      const length = Number(match[1]);
      if (this.#buffer.length < end + 4 + length) break;
      bodies.push(this.#buffer.subarray(end + 4, end + 4 + length).toString('utf8'));
      this.#buffer = this.#buffer.subarray(end + 4 + length);
    }
    return bodies;
  }
}
