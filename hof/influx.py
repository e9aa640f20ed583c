"""InfluxDB through its 1.x-compatible HTTP API (`/write`, `/query`, `/ping`), asynchronously.

The same calls work on InfluxDB 1.x and on 2.x/3.x through their v1 compatibility layer.

    InfluxError
    ├── InfluxUnavailable   the server cannot be reached or failed (5xx): retry later
    └── InfluxRejected      the server refused the request (4xx): retrying will not help
"""

from __future__ import annotations

from typing import Any, Self

import httpx

from hof.errors import HofError
from hof.settings import InfluxSettings

__all__ = ["InfluxClient", "InfluxError", "InfluxRejected", "InfluxUnavailable"]


class InfluxError(HofError):
    """A request to InfluxDB did not succeed."""


class InfluxUnavailable(InfluxError):
    """InfluxDB is down, unreachable, overloaded or failed: the request may succeed later."""


class InfluxRejected(InfluxError):
    """InfluxDB refused the data or query (bad points, field type conflict, auth)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"InfluxDB refused it ({status}): {message}")


class InfluxClient:
    """One connection pool to one InfluxDB database; use as an async context manager."""

    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        auth = None
        if settings.username and settings.password is not None:
            auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        self._http = httpx.AsyncClient(base_url=settings.url, auth=auth, timeout=settings.timeout_s)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise InfluxUnavailable(
                f"{method} {path}: {response.status_code} {response.text[:200]}"
            )
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except ValueError:
                message = response.text
            raise InfluxRejected(response.status_code, message[:500])
        return response

    async def ping(self) -> bool:
        try:
            return (await self._request("GET", "/ping")).status_code == 204
        except InfluxError:
            return False

    async def write(self, lines: list[str], *, precision: str = "ms") -> None:
        """Write line-protocol points; raises InfluxUnavailable (retry) or InfluxRejected."""
        if not lines:
            return
        await self._request(
            "POST",
            "/write",
            params={"db": self.settings.database, "precision": precision},
            content="\n".join(lines).encode(),
        )

    async def query(self, q: str, *, epoch: str = "ms") -> list[dict[str, Any]]:
        """Run InfluxQL; returns the series of the first statement (name, tags, columns, values)."""
        response = await self._request(
            "POST", "/query", params={"db": self.settings.database, "q": q, "epoch": epoch}
        )
        results = response.json().get("results", [])
        if not results:
            return []
        first = results[0]
        if "error" in first:
            raise InfluxRejected(400, str(first["error"]))
        return list(first.get("series", []))
