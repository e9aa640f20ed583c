"""The home's internet connection, as a real TCP relay between the gateway and the platform
broker that a test can cut and restore (the platform stays up, as it does when a home's
broadband fails)."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

__all__ = ["Internet"]


class Internet:
    """Relays 127.0.0.1:`port` to the platform broker; `cut` drops every connection and refuses
    new ones until `restore`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        first = self._listen(0)
        self._listener: socket.socket | None = first
        self.port: int = first.getsockname()[1]
        self.frozen = False  # bytes are swallowed: a line that died without closing anything
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(16)
        sock.setblocking(False)
        return sock

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                listener = self._listener
                pairs = list(self._pairs)
            selector = selectors.DefaultSelector()
            try:
                if listener is not None:
                    selector.register(listener, selectors.EVENT_READ)
                for a, b in pairs:
                    selector.register(a, selectors.EVENT_READ, b)
                    selector.register(b, selectors.EVENT_READ, a)
                ready = selector.select(0.05)
            except (OSError, ValueError):
                # A socket closed since it was read under the lock (a cut, a drop, the test's
                # end; CI: "Invalid file descriptor: -1" at register): the next round sees it.
                ready = []
            for key, _events in ready:
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is listener:
                    self._accept(listener)
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                peer: socket.socket = key.data
                try:
                    if not data:
                        raise OSError("closed")
                    if not self.frozen:
                        peer.sendall(data)
                except OSError:
                    self._drop(sock)
            selector.close()

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        client.setblocking(True)
        upstream.setblocking(True)
        with self._lock:
            self._pairs.append((client, upstream))

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            for pair in list(self._pairs):
                if sock in pair:
                    self._pairs.remove(pair)
                    for s in pair:
                        with contextlib.suppress(OSError):
                            s.close()

    def cut(self) -> None:
        """The line goes dead: every connection dropped, new ones refused."""
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for pair in self._pairs:
                for s in pair:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                    s.close()
            self._pairs.clear()

    def freeze(self) -> None:
        """The line dies silently: connections stay open, nothing gets through either way."""
        self.frozen = True

    def restore(self) -> None:
        self.frozen = False
        with self._lock:
            if self._listener is None:
                self._listener = self._listen(self.port)

    def close(self) -> None:
        self.cut()
        self._stop.set()
        self._thread.join(5)
