"""The delivery worker: one process that keeps claiming due notifications and sending them.

It is handed a ``Source`` (the outbox service: ``claim`` takes a batch of due notifications and signs
them, ``report`` records what became of them and says which clients it paused) and loops:
report finished sends, claim as much as the limits leave room for, send, until stopped (or, with
``until_idle``, until nothing is due or in flight). Database work runs in one thread of its own, so
the event loop never waits for it and Django's ORM stays in a synchronous context.

A client the outbox pauses (its circuit opened) is paused in this process too; once a second the worker
asks the source whether such a circuit was closed meanwhile (an operator's "resume" in the admin, or a
delivery by another process) and lifts its own pause then.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .http import open_session
from .sender import Limits, Message, Outcome, Sender

REPORT_TICK = 0.02  # seconds: let finished sends gather, so one UPDATE records many of them
RESUME_CHECK = 1.0  # seconds between looks for circuits closed elsewhere while this worker pauses a client


class Source(Protocol):
    def claim(self, limit: int, exclude: set[int]) -> list[Message]:
        """Claim and sign up to ``limit`` due notifications, none for the ``exclude``d clients."""

    def report(self, outcomes: list[Outcome]) -> dict[int, float]:
        """Record outcomes; returns clients paused by the circuit breaker -> seconds until due again."""

    def resumed(self, clients: set[int]) -> set[int]:
        """Of these clients, paused here, those whose circuit was closed since (resume them now)."""

    def close(self) -> None:
        """Release what the source holds in its thread (the database connection)."""


@dataclass
class Totals:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    released: int = 0
    paused_clients: set[int] = field(default_factory=set)
    started: datetime | None = None

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.result is None:
                self.released += 1
            elif outcome.result.ok:
                self.delivered += 1
            else:
                self.failed += 1


async def run_worker(
    source: Source,
    *,
    limits: Limits,
    batch: int,
    until_idle: bool = False,
    idle_wait: float = 1.0,
    stop: asyncio.Event | None = None,
    progress=None,
    stop_on_signals: bool = False,
) -> Totals:
    """Claim, send, report until ``stop`` is set (or, ``until_idle``, nothing is left to do).
    ``stop_on_signals``: SIGTERM/SIGINT finish the sends in flight, give back the rest, and return."""
    stop = stop or asyncio.Event()
    totals = Totals()
    loop = asyncio.get_running_loop()
    if stop_on_signals and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="idp-logout-worker-db")

    async def in_database(function, *args):
        return await loop.run_in_executor(database, function, *args)

    # Clients this worker pauses because the outbox opened their circuit. An operator may close a circuit
    # early (admin action), or another process may deliver to the client: look now and then, so the
    # pause held in this process does not outlast the one in the database.
    paused_here: set[int] = set()
    next_resume_check = loop.time() + RESUME_CHECK

    async def resume_closed(sender: Sender) -> None:
        nonlocal paused_here, next_resume_check
        if not paused_here or loop.time() < next_resume_check:
            return
        next_resume_check = loop.time() + RESUME_CHECK
        paused_here = {client for client in paused_here if sender.is_paused(client)}
        if paused_here:
            for client in await in_database(source.resumed, set(paused_here)):
                sender.resume(client)
                paused_here.discard(client)

    async def report(sender: Sender) -> int:
        outcomes = sender.take_outcomes()
        if not outcomes:
            return 0
        paused = await in_database(source.report, outcomes)
        for client, seconds in paused.items():
            sender.pause(client, seconds)
            totals.paused_clients.add(client)
            paused_here.add(client)
        totals.add(outcomes)
        if progress is not None:
            progress(totals)
        return len(outcomes)

    try:
        async with open_session(
            timeout=limits.timeout, allow_private=limits.allow_private, connections=limits.concurrency
        ) as session:
            sender = Sender(session, limits)
            while True:
                reported = await report(sender)
                if stop.is_set():
                    sender.release_all()
                    await sender.drain()
                    await report(sender)
                    break
                await resume_closed(sender)
                room = 2 * limits.concurrency - sender.buffered()
                wanted = min(batch, room)
                claimed: list[Message] = []
                if wanted > 0:
                    claimed = await in_database(source.claim, wanted, sender.full_clients())
                    totals.claimed += len(claimed)
                    sender.add(claimed)
                if wanted > 0 and len(claimed) == wanted:
                    await asyncio.sleep(0)  # more is due: claim again once sends have started
                    continue
                if not sender.busy() and not claimed and not reported and not sender.outcomes:
                    if until_idle:
                        break
                    await _wait(stop, sender, idle_wait)
                    continue
                await _wait(stop, sender, idle_wait)
                await asyncio.sleep(REPORT_TICK)
    finally:
        try:
            await in_database(source.close)
        finally:
            database.shutdown(wait=True)
    return totals


async def _wait(stop: asyncio.Event, sender: Sender, timeout: float | None) -> None:
    """Until a send finishes, ``stop`` is set, or ``timeout`` passes."""
    sender.changed.clear()
    waiters = [asyncio.ensure_future(sender.changed.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
