class AuraMediaError(Exception):
    """An error response: `code`, `message` and `data` as the server sent them (protocol/spec.md §6)."""

    def __init__(self, error):
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data")
        super().__init__(f"{self.code}: {self.message}")


class ServerExited(Exception):
    """The server process ended (crashed, was killed, or exited) while requests were pending."""
