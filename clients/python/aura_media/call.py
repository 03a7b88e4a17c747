import asyncio

_END = object()


class Call:
    """One request in flight: `await call` gives its result (or raises `AuraMediaError` / `ServerExited`);
    `async for value in call` yields what arrives for it before the result, in arrival order: `$/progress` values
    (`{"kind": "begin" | "report" | "end", ...}`) and partial results (for `requestWaveformRange`, each window).
    Cancelling the task that awaits it sends `$/cancelRequest`."""

    def __init__(self, client, request_id, method):
        self.id = request_id
        self.method = method
        self._client = client
        self._future = asyncio.get_running_loop().create_future()
        self._events = asyncio.Queue()
        self._future.add_done_callback(self._done)

    def _done(self, future):
        if future.cancelled():
            self._client._cancel_request(self.id)
        self._events.put_nowait(_END)

    def _event(self, value):
        if not self._future.done():
            self._events.put_nowait(value)

    def _resolve(self, result=None, error=None):
        if self._future.done():
            return
        if error is not None:
            self._future.set_exception(error)
        else:
            self._future.set_result(result)

    def cancel(self):
        """Cancels the request: `$/cancelRequest` is sent and awaiting the call raises `CancelledError`."""
        self._future.cancel()

    def done(self):
        return self._future.done()

    def __await__(self):
        return self._future.__await__()

    def __aiter__(self):
        return self._iterate()

    async def _iterate(self):
        while True:
            value = await self._events.get()
            if value is _END:
                return
            yield value
