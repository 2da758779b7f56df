"""Bulk revocation of the tokens of one session, or of a batch of sessions, for a set of clients
(DESIGN rule 10).

A constant number of statements, whatever the number of tokens: one UPDATE marks the refresh tokens
revoked (kept as rows: DOT's refresh-token reuse detection relies on the tombstones), then one DELETE
each for access tokens, ID tokens and authorization codes, then one DELETE for the bindings left
pointing nowhere. The deletes bypass Django's collector on purpose: the collector loads every row and
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
from dataclasses import asdict, dataclass

from django.db import connections, router
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from ..conf import app_settings
from ..models import SessionToken, UserSession

OFFLINE_ACCESS = "offline_access"


@dataclass
class RevocationCounts:
    refresh_tokens: int = 0
    access_tokens: int = 0
    id_tokens: int = 0
    grants: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def add(self, other: RevocationCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


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
    """Revoke every token of the given sessions issued to the given clients, in the same constant number
    of statements for one session or a thousand. Call inside the transaction that locked the sessions.

    Returns the totals and, with ``count_per_session``, the counts of each session (one more grouped
    SELECT, run before the bindings left pointing nowhere are removed)."""
    application_ids = list(application_ids)
    counts = RevocationCounts()
    if not application_ids or not session_ids:
        return counts, {}
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    IDToken = get_id_token_model()
    Grant = get_grant_model()
    bound = SessionToken.objects.filter(user_session_id__in=session_ids, application_id__in=application_ids)
    keep_offline = app_settings.KEEP_OFFLINE_ACCESS_TOKENS

    refresh_tokens = RefreshToken.objects.filter(
        pk__in=bound.filter(refresh_token__isnull=False).values("refresh_token_id"), revoked__isnull=True
    )
    access_tokens = AccessToken.objects.filter(
        pk__in=bound.filter(access_token__isnull=False).values("access_token_id")
    )
    if keep_offline:
        # Back-Channel Logout 1.0 section 2.7: refresh tokens granted offline_access outlive the session.
        offline = Q(access_token__scope__contains=OFFLINE_ACCESS)
        refresh_tokens = refresh_tokens.exclude(offline)
        access_tokens = access_tokens.exclude(scope__contains=OFFLINE_ACCESS)

    revoked_at = timezone.now()
    counts.refresh_tokens = refresh_tokens.update(revoked=revoked_at, access_token=None)
    # Refresh tokens of other sessions never point at these access tokens, but a rotated-out refresh
    # token of this session may: detach them so no row points at a deleted access token.
    RefreshToken.objects.filter(access_token__in=access_tokens).update(access_token=None)
    with _bindings_cleaned():
        counts.access_tokens = _raw_delete(access_tokens)
        counts.id_tokens = _raw_delete(
            IDToken.objects.filter(pk__in=bound.filter(id_token__isnull=False).values("id_token_id")).exclude(
                Exists(AccessToken.objects.filter(id_token=OuterRef("pk")))
            )
        )
        counts.grants = _raw_delete(
            Grant.objects.filter(pk__in=bound.filter(grant__isnull=False).values("grant_id"))
        )
        dangling = {
            "access_tokens": Q(access_token_id__isnull=False)
            & ~Exists(AccessToken.objects.filter(pk=OuterRef("access_token_id"))),
            "id_tokens": Q(id_token_id__isnull=False)
            & ~Exists(IDToken.objects.filter(pk=OuterRef("id_token_id"))),
            "grants": Q(grant_id__isnull=False) & ~Exists(Grant.objects.filter(pk=OuterRef("grant_id"))),
        }
        per_session: dict[int, RevocationCounts] = {}
        if count_per_session:
            # The bindings still point at what was just deleted (or revoked at ``revoked_at``): count them.
            rows = (
                bound.order_by()
                .values("user_session_id")
                .annotate(
                    # A join, not EXISTS: inside an aggregate's FILTER, PostgreSQL runs EXISTS as a
                    # hashed subplan over the whole refresh-token table (not selective on ``revoked``),
                    # once per batch; the join looks up the batch's own rows by primary key.
                    refresh_tokens=Count("pk", filter=Q(refresh_token__revoked=revoked_at)),
                    **{name: Count("pk", filter=condition) for name, condition in dangling.items()},
                )
            )
            per_session = {row.pop("user_session_id"): RevocationCounts(**row) for row in rows}
        _raw_delete(bound.filter(dangling["access_tokens"] | dangling["id_tokens"] | dangling["grants"]))
    return counts, per_session
