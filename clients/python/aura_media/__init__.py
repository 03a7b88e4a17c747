"""asyncio client for AuraMedia: proxies, waveforms, frames and telemetry over JSON-RPC on a child process's
stdin/stdout. Standard library only."""
from .call import Call
from .client import AuraMedia
from .errors import AuraMediaError, ServerExited

__all__ = ["AuraMedia", "AuraMediaError", "Call", "ServerExited"]
__version__ = "0.1.0"
