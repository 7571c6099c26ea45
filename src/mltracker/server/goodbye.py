"""The HTTP protocol of a server that speaks TLS itself: at shutdown, its idle connections let
go once their last bytes are sent, instead of waiting for the client's TLS goodbye.

uvicorn stops by closing every idle connection and waiting until they are gone. Closing a TLS
connection sends the TLS goodbye (``close_notify``) and waits for the client's, up to 30 s
(asyncio's ``ssl_shutdown_timeout``). A client keeps idle connections in its pool (the HTTP
client of every training job does) and reads nothing from them before its next request, so a
server of TLS with any client connected took 30 s to stop. Here a connection that the
shutdown closed is cut (``abort``) as soon as nothing it wrote is left in the process: no
answer is cut short, and the client finds the connection closed at its next request, as it
would have after the goodbye. Where the event loop's transports do not show what is left to
send (another loop than asyncio's), the loop's own timeout applies.
"""

from __future__ import annotations

import asyncio

__all__ = ["TlsGoodbye"]
#: How often a closed connection looks whether its last bytes are sent.
_POLL_SECONDS = 0.05


class TlsGoodbye:
    """A base, before uvicorn's HTTP protocol, whose connections closed by a shutdown do not
    wait for the client's TLS goodbye (``mltracker.server.timeouts.http_protocol`` puts it
    there)."""

    transport: asyncio.Transport
    _lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        super().connection_lost(exc)  # type: ignore[misc]

    def shutdown(self) -> None:
        super().shutdown()  # type: ignore[misc]
        if self.transport is not None and self.transport.is_closing():  # it was idle
            self._cut_when_sent()

    def _cut_when_sent(self) -> None:
        if self._lost:
            return
        left = _unsent(self.transport)
        if left is None:
            return  # unknown: the loop's own TLS shutdown timeout applies
        if left == 0:
            self.transport.abort()
            return
        asyncio.get_running_loop().call_later(_POLL_SECONDS, self._cut_when_sent)


def _unsent(transport: asyncio.BaseTransport) -> int | None:
    """How many bytes ``transport`` (a TLS transport of asyncio) still holds to send: those
    not yet made into TLS records, and those of the socket's transport beneath it; ``None``
    when it does not tell."""
    beneath = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)
    if not isinstance(beneath, asyncio.WriteTransport) or not isinstance(
        transport, asyncio.WriteTransport
    ):
        return None
    return transport.get_write_buffer_size() + beneath.get_write_buffer_size()
