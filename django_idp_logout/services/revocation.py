"""Bulk revocation of the tokens of one session, or of a batch of sessions, for a set of clients
(DESIGN rule 10).

A constant number of statements, whatever the number of tokens: one SELECT reads the bindings, one
UPDATE marks the refresh tokens revoked (kept as rows: DOT's refresh-token reuse detection relies on the
tombstones), then one DELETE each for access tokens, ID tokens and authorization codes (after one look
for ID tokens still in use), then one DELETE for the bindings of what was deleted. Each names its
token ids, so PostgreSQL looks them up by primary key instead of hashing a whole table (``id_lists``).
The deletes bypass Django's collector on purpose: the collector loads every row and
deletes in chunks, which is what makes DOT's own logout cost ~16 statements per token. The relations
the collector would have handled are handled here: refresh tokens drop their access token first;
access tokens go before the ID tokens they point to; bindings are cleaned in the same transaction
(foreign keys are checked at commit on PostgreSQL and SQLite; MySQL/MariaDB check every statement, so
there the checks are off between deleting the tokens and deleting their bindings, see _bindings_cleaned).

Tokens bound to no session (issued before the app was installed) are revoked the same way by
``unbound.revoke_unbound_tokens``.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from django.db import connections, router
from django.db.models import QuerySet
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from ..conf import app_settings
from ..models import SessionToken, UserSession
from .id_lists import any_of, chunked

OFFLINE_ACCESS = "offline_access"


@dataclass
class RevocationCounts:
    refresh_tokens: int = 0
    access_tokens: int = 0
    id_tokens: int = 0
    grants: int = 0

    def as_dict(self) -> dict[str, int]:
        # Spelled out: dataclasses.asdict deep-copies, ~20 µs a call, once per ended session.
        return {
            "refresh_tokens": self.refresh_tokens,
            "access_tokens": self.access_tokens,
            "id_tokens": self.id_tokens,
            "grants": self.grants,
        }

    def add(self, other: RevocationCounts) -> None:
        self.refresh_tokens += other.refresh_tokens
        self.access_tokens += other.access_tokens
        self.id_tokens += other.id_tokens
        self.grants += other.grants


def _raw_delete(queryset: QuerySet) -> int:
    """One DELETE statement (no per-row collector); returns the number of rows deleted."""
    return queryset._raw_delete(router.db_for_write(queryset.model)) or 0


def _bindings_cleaned() -> AbstractContextManager:
    """Where foreign keys are checked per statement (MySQL/MariaDB), turn the checks off for the deletes:
    the bindings still point at the deleted tokens until the last DELETE of the block removes them, in the
    same transaction, as the deferred check on PostgreSQL and SQLite sees it at commit. Two statements
    more (SET foreign_key_checks), none on the other databases."""
    connection = connections[router.db_for_write(SessionToken)]
    if connection.features.can_defer_constraint_checks:
        return nullcontext()
    return connection.constraint_checks_disabled()


def revoke_session_tokens(user_session: UserSession, application_ids: Iterable[int]) -> RevocationCounts:
    """Revoke every token of ``user_session`` issued to the given clients. Call inside a transaction."""
    return revoke_sessions_tokens([user_session.pk], application_ids)[0]


def revoke_sessions_tokens(
    session_ids: list[int], application_ids: Iterable[int], *, count_per_session: bool = False
) -> tuple[RevocationCounts, dict[int, RevocationCounts]]:
    """Revoke every token of the given sessions issued to the given clients, in the same few statements
    for one session or a thousand. Call inside the transaction that locked the sessions.

    One SELECT reads the sessions' bindings; every later statement names the token ids it touches, so
    each is a primary-key look-up whatever the size of the token tables (``id_lists``). Returns the
    totals and, with ``count_per_session``, each session's counts (from the bindings, in Python)."""
    application_ids = list(application_ids)
    if not application_ids or not session_ids:
        return RevocationCounts(), {}
    columns = ("pk", "user_session_id", "access_token_id", "refresh_token_id", "id_token_id", "grant_id")
    bindings = list(
        SessionToken.objects.filter(
            any_of("user_session_id", session_ids), application_id__in=application_ids
        )
        .order_by()
        .values_list(*columns)
    )
    if not bindings:
        return RevocationCounts(), {}
    counts = RevocationCounts()
    refresh_ids, access_ids, id_token_ids, grant_ids = (
        [row[column] for row in bindings if row[column] is not None] for column in (3, 2, 4, 5)
    )
    revoked = _revoke_refresh_tokens(refresh_ids, counts, want_ids=count_per_session)
    with _bindings_cleaned():
        deleted_access = _delete_access_tokens(access_ids, counts)
        deleted_id_tokens = _delete_id_tokens(id_token_ids, counts)
        for chunk in chunked(get_grant_model(), grant_ids):
            counts.grants += _raw_delete(get_grant_model().objects.filter(any_of("pk", chunk)))
        grants = set(grant_ids)
        # The bindings of what was deleted; those of refresh tokens stay (revoked tokens are kept).
        dead = [
            pk
            for pk, _session, access, _refresh, id_token, grant in bindings
            if access in deleted_access or id_token in deleted_id_tokens or grant in grants
        ]
        for chunk in chunked(SessionToken, dead):
            _raw_delete(SessionToken.objects.filter(any_of("pk", chunk)))
    if not count_per_session:
        return counts, {}
    per_session: dict[int, RevocationCounts] = {}
    for _pk, session, access, refresh, id_token, grant in bindings:
        own = per_session.setdefault(session, RevocationCounts())
        own.refresh_tokens += refresh in revoked
        own.access_tokens += access in deleted_access
        own.id_tokens += id_token in deleted_id_tokens
        own.grants += grant in grants
    return counts, per_session


def _revoke_refresh_tokens(ids: list[int], counts: RevocationCounts, *, want_ids: bool) -> set[int]:
    """Mark the live ones among ``ids`` revoked and detach them from their access token (kept as rows:
    DOT's refresh-token reuse detection relies on the tombstones). ``want_ids``: read which first (one
    SELECT more), to count them per session."""
    RefreshToken = get_refresh_token_model()
    revoked: set[int] = set()
    revoked_at = timezone.now()
    for chunk in chunked(RefreshToken, ids):
        live = RefreshToken.objects.filter(any_of("pk", chunk), revoked__isnull=True)
        if app_settings.KEEP_OFFLINE_ACCESS_TOKENS:
            # Back-Channel Logout 1.0 section 2.7: refresh tokens granted offline_access outlive the session.
            live = live.exclude(access_token__scope__contains=OFFLINE_ACCESS)
        if want_ids:
            found = list(live.values_list("pk", flat=True))
            if not found:
                continue
            revoked.update(found)
            live = RefreshToken.objects.filter(any_of("pk", found))
        counts.refresh_tokens += live.update(revoked=revoked_at, access_token=None)
    return revoked


def _delete_access_tokens(ids: list[int], counts: RevocationCounts) -> set[int]:
    """Delete the access tokens among ``ids`` (all of them, unless ``KEEP_OFFLINE_ACCESS_TOKENS`` keeps
    the offline ones); returns the ids deleted."""
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    deleted: set[int] = set()
    for chunk in chunked(AccessToken, ids):
        if app_settings.KEEP_OFFLINE_ACCESS_TOKENS:
            chunk = list(
                AccessToken.objects.filter(any_of("pk", chunk))
                .exclude(scope__contains=OFFLINE_ACCESS)
                .values_list("pk", flat=True)
            )
            if not chunk:
                continue
        # A rotated-out refresh token of the session may still point at one of them: detach it, so no
        # row points at a deleted access token.
        RefreshToken.objects.filter(any_of("access_token_id", chunk)).update(access_token=None)
        counts.access_tokens += _raw_delete(AccessToken.objects.filter(any_of("pk", chunk)))
        deleted.update(chunk)
    return deleted


def _delete_id_tokens(ids: list[int], counts: RevocationCounts) -> set[int]:
    """Delete the ID tokens among ``ids`` that no remaining access token points at (one kept for
    ``offline_access`` keeps its ID token); returns the ids deleted."""
    AccessToken, IDToken = get_access_token_model(), get_id_token_model()
    deleted: set[int] = set()
    for chunk in chunked(IDToken, ids):
        in_use = set(
            AccessToken.objects.filter(any_of("id_token_id", chunk)).values_list("id_token_id", flat=True)
        )
        chunk = [pk for pk in chunk if pk not in in_use]
        if chunk:
            counts.id_tokens += _raw_delete(IDToken.objects.filter(any_of("pk", chunk)))
            deleted.update(chunk)
    return deleted
