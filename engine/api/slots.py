"""Admission for CPU-heavy requests: a few at work, a few waiting, the rest told when to retry.

Waiting requests hold memory and sockets but no CPU; beyond `waiting` of them a request gets
429 at once, with a Retry-After from the recent time per request, so overload costs nothing.
Used from the event loop only (no locks needed).
"""

from __future__ import annotations

import asyncio
import math
import time

from engine.api.errors import ApiError

_FIRST_GUESS_S = 2.0


class WorkSlots:
    """`running` requests at once, `waiting` more in line; acquire() -> token, release(token)."""

    def __init__(self, running: int, waiting: int) -> None:
        self.running = running
        self.waiting = waiting
        self._admitted = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._mean_s = _FIRST_GUESS_S

    @property
    def admitted(self) -> int:
        """Requests at work or waiting now."""
        return self._admitted

    def retry_after_s(self) -> int:
        """Seconds until a place is likely free: the line's length times the mean request."""
        return max(1, math.ceil(self._mean_s * max(1, self._admitted) / self.running))

    async def acquire(self) -> float:
        """Wait for a place (429 when the line is full); returns the start time to release."""
        if self._admitted >= self.running + self.waiting:
            seconds = self.retry_after_s()
            raise ApiError(
                429,
                f"The server is busy ({self.running} requests at work, {self.waiting} waiting). "
                f"Try again in {seconds} s.",
                code="rate_limit_exceeded",
                retry_after_s=seconds,
            )
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.running)
        self._admitted += 1
        try:
            await self._semaphore.acquire()
        except BaseException:
            self._admitted -= 1
            raise
        return time.monotonic()

    def release(self, started: float) -> None:
        """Give the place back and learn how long requests take."""
        assert self._semaphore is not None
        self._semaphore.release()
        self._admitted -= 1
        self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - started)


__all__ = ["WorkSlots"]
