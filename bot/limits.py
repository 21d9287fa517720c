"""Per-user rate limits and the bounded, per-chat ordered work queue (event-loop objects)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass


class RateLimiter:
    """At most `max_events` per user in any `period_s` window (a sliding window)."""

    def __init__(
        self, max_events: int, period_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_events = max_events
        self.period_s = period_s
        self._clock = clock
        self._events: dict[int, deque[float]] = defaultdict(deque)
        self._warned: set[int] = set()

    def allow(self, user_id: int) -> bool:
        """Record an event for `user_id` and say whether it is within the limit."""
        now = self._clock()
        events = self._recent(user_id, now)
        if len(events) >= self.max_events:
            return False
        events.append(now)
        self._warned.discard(user_id)
        return True

    def wait_s(self, user_id: int) -> float:
        """Seconds until `user_id` may send again: 0 when now, else when the oldest event in
        the window leaves it."""
        now = self._clock()
        events = self._recent(user_id, now)
        if len(events) < self.max_events:
            return 0.0
        return events[0] + self.period_s - now

    def first_refusal(self, user_id: int) -> bool:
        """True once per run of refusals (one window), so a flooding user is told only once."""
        if user_id in self._warned:
            return False
        self._warned.add(user_id)
        return True

    def _recent(self, user_id: int, now: float) -> deque[float]:
        events = self._events[user_id]
        while events and now - events[0] >= self.period_s:
            events.popleft()
        return events


class QueueFull(Exception):
    """The work queue holds as many messages as it may."""


@dataclass
class Ticket:
    """A message's place in its chat's line; `cancelled` turns true after /cancel."""

    chat_id: int
    generation: int
    queue: ChatQueue

    @property
    def cancelled(self) -> bool:
        """True when /cancel was used in this chat after the message arrived."""
        return self.queue.generation(self.chat_id) != self.generation


class ChatQueue:
    """Runs each chat's messages one after another, in arrival order, with a global bound.

    `enter()` takes a place synchronously (before any await), so arrival order is the order in
    which handlers start; each place waits for the previous one in the same chat to finish.
    """

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.pending = 0
        self._tails: dict[int, asyncio.Future[None]] = {}
        self._generations: dict[int, int] = defaultdict(int)
        self._waiting: dict[int, int] = defaultdict(int)

    def generation(self, chat_id: int) -> int:
        """How many times /cancel was used in this chat."""
        return self._generations[chat_id]

    def cancel(self, chat_id: int) -> int:
        """Drop the chat's waiting messages; returns how many there were."""
        self._generations[chat_id] += 1
        count, self._waiting[chat_id] = self._waiting[chat_id], 0
        return count

    @asynccontextmanager
    async def enter(self, chat_id: int) -> AsyncIterator[Ticket]:
        """Wait for this chat's turn; raises QueueFull when too many messages are pending."""
        if self.pending >= self.max_pending:
            raise QueueFull
        self.pending += 1
        self._waiting[chat_id] += 1
        ticket = Ticket(chat_id, self._generations[chat_id], self)
        previous = self._tails.get(chat_id)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[chat_id] = done
        try:
            if previous is not None:
                await asyncio.shield(previous)
            yield ticket
        finally:
            self.pending -= 1
            if not ticket.cancelled:
                self._waiting[chat_id] -= 1
            done.set_result(None)
            if self._tails.get(chat_id) is done:
                del self._tails[chat_id]
