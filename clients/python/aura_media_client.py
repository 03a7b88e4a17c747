"""A small Python client for the AuraMedia JSON-RPC server (stdlib only).

Spawns `aura-media serve` as a child process and talks LSP-style Content-Length-framed JSON-RPC 2.0
over its stdin/stdout. Responses are matched to requests by id on a reader thread; notifications
(`$/progress`, `window/logMessage`, `previewModeChanged`) go to an optional callback.

    with AuraMediaClient(["aura-media"]) as client:
        client.initialize()
        info = client.request("probe", {"path": "/path/clip.mp4"})
"""
import itertools
import json
import subprocess
import threading


class AuraMediaError(Exception):
    """An error response: `code`, `message` and `data` as the server sent them."""

    def __init__(self, error):
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data")


def frame(message):
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class AuraMediaClient:
    def __init__(self, command, on_notification=None, stderr=None):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        self.on_notification = on_notification
        self._ids = itertools.count(1)
        self._pending = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- framing ---------------------------------------------------------------------------------
    def _read_loop(self):
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self._fail_all("server closed its output")
                    return
                line = line.rstrip(b"\r\n")
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = stream.read(length)
            self._dispatch(json.loads(body))

    def _dispatch(self, message):
        if isinstance(message, list):
            for element in message:
                self._dispatch(element)
            return
        if "method" in message and "id" not in message:
            if self.on_notification:
                self.on_notification(message["method"], message.get("params"))
            return
        with self._lock:
            waiter = self._pending.pop(message.get("id"), None)
        if waiter:
            waiter["message"] = message
            waiter["event"].set()

    def _fail_all(self, reason):
        with self._lock:
            pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter["message"] = {"error": {"code": -32099, "message": reason}}
            waiter["event"].set()

    def send(self, message):
        message = dict(message, jsonrpc="2.0")
        with self._write_lock:
            self.process.stdin.write(frame(message))
            self.process.stdin.flush()

    # -- requests --------------------------------------------------------------------------------
    def request_async(self, method, params=None):
        """Sends a request; returns (id, wait) where wait(timeout) gives the result or raises."""
        request_id = next(self._ids)
        waiter = {"event": threading.Event(), "message": None}
        with self._lock:
            self._pending[request_id] = waiter
        message = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

        def wait(timeout=None):
            if not waiter["event"].wait(timeout):
                raise TimeoutError(f"{method} (id {request_id}) timed out")
            response = waiter["message"]
            if "error" in response:
                raise AuraMediaError(response["error"])
            return response.get("result")

        return request_id, wait

    def request(self, method, params=None, timeout=None):
        return self.request_async(method, params)[1](timeout)

    def notify(self, method, params=None):
        message = {"method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def cancel(self, request_id):
        self.notify("$/cancelRequest", {"id": request_id})

    def initialize(self, options=None, name="python-client"):
        params = {"clientInfo": {"name": name}}
        if options:
            params["initializationOptions"] = options
        result = self.request("initialize", params)
        self.notify("initialized", {})
        return result

    def close(self, timeout=10):
        """shutdown + exit; returns the exit status."""
        try:
            self.request("shutdown", timeout=timeout)
            self.notify("exit")
        except (BrokenPipeError, AuraMediaError, TimeoutError):
            pass
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        return self.process.wait(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.close()
