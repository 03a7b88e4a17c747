"""LSP-style framing: `Content-Length: N\\r\\n\\r\\n` then N bytes of UTF-8 JSON."""
import asyncio
import json


def encode(message):
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_message(reader: asyncio.StreamReader):
    """The next message, or None at the end of the stream. Headers other than Content-Length are ignored."""
    length = None
    while True:
        line = await reader.readline()
        if not line:
            return None
        line = line.strip()
        if not line:
            if length is None:
                continue  # a stray blank line between frames
            break
        name, _, value = line.decode("ascii", "replace").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length)
    return json.loads(body)
