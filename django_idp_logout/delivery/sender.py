"""Sending handed-over logout tokens concurrently, within limits, with a per-client circuit breaker.

The one sending machinery of every strategy ("sync", "thread", Celery and the ``--worker`` process):
it is handed ``Message`` objects (already claimed and signed by the outbox service), POSTs them on one
event loop, and hands back an ``Outcome`` per message. It never touches the database.

- ``BACKCHANNEL_CONCURRENCY`` requests in flight at most, and ``BACKCHANNEL_CONCURRENCY_PER_CLIENT``
  per client, so a slow client can only ever hold its own share of the senders.
- A client whose attempts fail ``BACKCHANNEL_CIRCUIT_FAILURES`` times in a row is paused: its messages
  that were not started yet come back as *released* (not attempted), and the outbox keeps them due.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..conf import app_settings
from .http import PostResult, open_session, post_logout_token

T = TypeVar("T")


@dataclass(frozen=True)
class Message:
    """One attempt to send: the outbox row's id, the client it goes to, where, and the signed token."""

    notification_id: int
    client: int  # the application's pk: the unit of the per-client limit and of the circuit breaker
    uri: str
    token: str


@dataclass(frozen=True)
class Outcome:
    """What became of a message. ``result`` is None when it was released unsent (its client paused)."""

    message: Message
    result: PostResult | None

    @property
    def released(self) -> bool:
        return self.result is None


@dataclass(frozen=True)
class Limits:
    concurrency: int
    per_client: int
    timeout: float
    allow_private: bool
    circuit_failures: int
    circuit_pause: float

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            concurrency=app_settings.BACKCHANNEL_CONCURRENCY,
            per_client=app_settings.BACKCHANNEL_CONCURRENCY_PER_CLIENT,
            timeout=app_settings.BACKCHANNEL_TIMEOUT,
            allow_private=app_settings.BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES,
            circuit_failures=app_settings.BACKCHANNEL_CIRCUIT_FAILURES,
            circuit_pause=app_settings.BACKCHANNEL_CIRCUIT_PAUSE,
        )


class Sender:
    """Per-client queues drained round-robin into at most ``concurrency`` concurrent POSTs."""

    def __init__(self, session, limits: Limits) -> None:
        self.session = session
        self.limits = limits
        self.queues: dict[int, deque[Message]] = {}
        self.in_flight: dict[int, int] = {}
        self.total_in_flight = 0
        self.failures: dict[int, int] = {}
        self.paused_until: dict[int, float] = {}  # monotonic seconds
        self.outcomes: list[Outcome] = []
        self.changed = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()

    # --- what the caller sees --------------------------------------------------------------------

    def add(self, messages: Iterable[Message]) -> None:
        for message in messages:
            if self.is_paused(message.client):
                self.outcomes.append(Outcome(message, None))
            else:
                self.queues.setdefault(message.client, deque()).append(message)
        self.pump()

    def busy(self) -> bool:
        return self.total_in_flight > 0 or any(self.queues.values())

    def buffered(self) -> int:
        return self.total_in_flight + sum(len(q) for q in self.queues.values())

    def full_clients(self) -> set[int]:
        """Clients not to claim more for now: paused, or with two rounds of their limit in hand."""
        full = {c for c in list(self.paused_until) if self.is_paused(c)}
        for client, queue in self.queues.items():
            if len(queue) + self.in_flight.get(client, 0) >= 2 * self.limits.per_client:
                full.add(client)
        return full

    def take_outcomes(self) -> list[Outcome]:
        outcomes, self.outcomes = self.outcomes, []
        return outcomes

    def is_paused(self, client: int) -> bool:
        until = self.paused_until.get(client)
        if until is None:
            return False
        if until <= time.monotonic():
            del self.paused_until[client]
            return False
        return True

    def pause(self, client: int, seconds: float) -> None:
        """Stop sending to ``client`` for ``seconds``; what is queued for it goes back unsent."""
        self.paused_until[client] = time.monotonic() + seconds
        queue = self.queues.pop(client, None)
        if queue:
            self.outcomes.extend(Outcome(message, None) for message in queue)
        self.changed.set()

    def resume(self, client: int) -> None:
        """Lift this process's pause of ``client`` early (its circuit was closed elsewhere)."""
        self.paused_until.pop(client, None)
        self.failures.pop(client, None)
        self.changed.set()

    def release_all(self) -> None:
        """Give back everything not started yet (shutdown)."""
        for queue in self.queues.values():
            self.outcomes.extend(Outcome(message, None) for message in queue)
        self.queues.clear()

    async def drain(self) -> None:
        while self.busy():
            self.changed.clear()
            await self.changed.wait()

    # --- inside ----------------------------------------------------------------------------------

    def pump(self) -> None:
        """Start sends while there is room, one client after another so none waits behind another."""
        progress = True
        while progress and self.total_in_flight < self.limits.concurrency:
            progress = False
            for client in list(self.queues):
                queue = self.queues[client]
                if not queue:
                    del self.queues[client]
                    continue
                if self.in_flight.get(client, 0) >= self.limits.per_client:
                    continue
                message = queue.popleft()
                self.in_flight[client] = self.in_flight.get(client, 0) + 1
                self.total_in_flight += 1
                task = asyncio.ensure_future(self._send(message))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                progress = True
                if self.total_in_flight >= self.limits.concurrency:
                    break

    async def _send(self, message: Message) -> None:
        try:
            result = await post_logout_token(
                self.session,
                message.uri,
                message.token,
                timeout=self.limits.timeout,
                allow_private=self.limits.allow_private,
            )
        except Exception as exc:  # a bug must not lose the outcome: the row would stay claimed
            result = PostResult(ok=False, error=f"send failed: {type(exc).__name__}")
        self.outcomes.append(Outcome(message, result))
        self.in_flight[message.client] -= 1
        self.total_in_flight -= 1
        if result.ok:
            self.failures[message.client] = 0
        else:
            self.failures[message.client] = self.failures.get(message.client, 0) + 1
            if self.failures[message.client] >= self.limits.circuit_failures:
                self.failures[message.client] = 0
                self.pause(message.client, self.limits.circuit_pause)
        self.pump()
        self.changed.set()


async def _send_batch(messages: list[Message], limits: Limits) -> list[Outcome]:
    async with open_session(
        timeout=limits.timeout, allow_private=limits.allow_private, connections=limits.concurrency
    ) as session:
        sender = Sender(session, limits)
        sender.add(messages)
        await sender.drain()
        return sender.take_outcomes()


def send_batch(messages: list[Message], limits: Limits | None = None) -> list[Outcome]:
    """Send ``messages`` now and return their outcomes (blocks the calling thread, not a loop)."""
    if not messages:
        return []
    return run_coroutine(_send_batch(messages, limits or Limits.from_settings()))


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` from synchronous code; in a thread of its own when this one already runs a loop
    (an ASGI server calling sync code inline)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="idp-logout-send")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
