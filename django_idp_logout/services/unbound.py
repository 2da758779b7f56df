"""Tokens bound to no session: what DOT issued before the app was installed (docs/adopting.md).

They cannot be placed in a session, and DOT's own logout would have deleted them. So when any session of
their user ends, the user's unbound tokens of every coordinated browser client are revoked with it, in
a flat number of statements (``revoke_unbound_tokens``); ``idp_logout_unbound_tokens`` reports how many
are left (``count_unbound_tokens``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from oauth2_provider.models import (
    AbstractApplication,
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from ..conf import app_settings
from ..models import SessionToken
from .revocation import OFFLINE_ACCESS, RevocationCounts, _raw_delete

# The grants a browser session takes part in: the tokens a session would have bound, had the app been
# installed when they were issued. Password, client-credentials and device tokens are never bound, so
# they are not "unbound" in this sense and stay untouched (docs/sessions.md).
BROWSER_GRANT_TYPES = (
    AbstractApplication.GRANT_AUTHORIZATION_CODE,
    AbstractApplication.GRANT_IMPLICIT,
    AbstractApplication.GRANT_OPENID_HYBRID,
)


def coordinated_browser_clients() -> QuerySet:
    """Clients whose effective coordinate setting is true and that sign users in through a browser."""
    own = "logout_settings__coordinate_lifetime_with_user_session"
    coordinated = Q(**{own: True})
    if app_settings.COORDINATE_LIFETIME_WITH_USER_SESSION:
        coordinated |= Q(**{f"{own}__isnull": True})  # no row, or "inherit"
    Application = get_application_model()
    return Application.objects.filter(coordinated, authorization_grant_type__in=BROWSER_GRANT_TYPES)


def _unbound(model, binding_field: str, **filters) -> QuerySet:
    """``model`` rows matching ``filters`` that no ``SessionToken`` points at."""
    return model.objects.filter(**filters).exclude(
        Exists(SessionToken.objects.filter(**{binding_field: OuterRef("pk")}))
    )


def unbound_querysets(**filters) -> dict[str, QuerySet]:
    """The unbound refresh tokens (not revoked), access tokens, ID tokens and codes matching ``filters``."""
    return {
        "refresh_tokens": _unbound(
            get_refresh_token_model(), "refresh_token", revoked__isnull=True, **filters
        ),
        "access_tokens": _unbound(get_access_token_model(), "access_token", **filters),
        "id_tokens": _unbound(get_id_token_model(), "id_token", **filters),
        "grants": _unbound(get_grant_model(), "grant", **filters),
    }


def revocable_querysets(**filters) -> dict[str, QuerySet]:
    """``unbound_querysets`` without what ``KEEP_OFFLINE_ACCESS_TOKENS`` keeps, as for bound tokens."""
    querysets = unbound_querysets(**filters)
    if app_settings.KEEP_OFFLINE_ACCESS_TOKENS:
        querysets["refresh_tokens"] = querysets["refresh_tokens"].exclude(
            access_token__scope__contains=OFFLINE_ACCESS
        )
        querysets["access_tokens"] = querysets["access_tokens"].exclude(scope__contains=OFFLINE_ACCESS)
    return querysets


def clients_with_unbound_tokens(user_id) -> dict[int, str]:
    """{application pk: client_id} of the coordinated browser clients holding unbound tokens of the
    user: one statement (the common case, nothing found, costs nothing more)."""
    querysets = revocable_querysets(user_id=user_id, application_id=OuterRef("pk"))
    holding = Q()
    for queryset in querysets.values():
        holding |= Exists(queryset)
    return dict(coordinated_browser_clients().filter(holding).values_list("pk", "client_id"))


def revoke_unbound_tokens(user_id, application_ids: Iterable[int]) -> RevocationCounts:
    """Revoke the user's unbound tokens of the given clients (see ``clients_with_unbound_tokens``), as
    ``revoke_session_tokens`` does for bound ones. Call inside a transaction."""
    application_ids = list(application_ids)
    counts = RevocationCounts()
    if not application_ids:
        return counts
    AccessToken = get_access_token_model()
    querysets = revocable_querysets(user_id=user_id, application_id__in=application_ids)
    access_tokens = querysets["access_tokens"]
    counts.refresh_tokens = querysets["refresh_tokens"].update(revoked=timezone.now(), access_token=None)
    get_refresh_token_model().objects.filter(access_token__in=access_tokens).update(access_token=None)
    counts.access_tokens = _raw_delete(access_tokens)
    counts.id_tokens = _raw_delete(
        querysets["id_tokens"].exclude(Exists(AccessToken.objects.filter(id_token=OuterRef("pk"))))
    )
    counts.grants = _raw_delete(querysets["grants"])
    return counts


@dataclass
class UnboundTokens:
    """One client's unbound tokens still usable: what ``idp_logout_unbound_tokens`` prints."""

    client_id: str
    name: str
    coordinated: bool
    access_tokens: int = 0
    refresh_tokens: int = 0
    id_tokens: int = 0
    grants: int = 0

    @property
    def total(self) -> int:
        return self.access_tokens + self.refresh_tokens + self.id_tokens + self.grants


def count_unbound_tokens() -> list[UnboundTokens]:
    """Per browser client with any: its users' unbound tokens that still work (access and ID tokens and
    codes not expired, refresh tokens not revoked). One grouped query per token type."""
    now = timezone.now()
    querysets = unbound_querysets(
        user__isnull=False, application__authorization_grant_type__in=BROWSER_GRANT_TYPES
    )
    live = {
        "access_tokens": querysets["access_tokens"].filter(expires__gt=now),
        "refresh_tokens": querysets["refresh_tokens"],
        "id_tokens": querysets["id_tokens"].filter(expires__gt=now),
        "grants": querysets["grants"].filter(expires__gt=now),
    }
    per_client: dict[int, dict[str, int]] = {}
    for kind, queryset in live.items():
        for application_id, n in (
            queryset.order_by()
            .values_list("application_id")
            .annotate(n=Count("pk"))
            .values_list("application_id", "n")
        ):
            per_client.setdefault(application_id, {})[kind] = n
    coordinated = set(coordinated_browser_clients().filter(pk__in=per_client).values_list("pk", flat=True))
    applications = get_application_model().objects.filter(pk__in=per_client).order_by("client_id")
    return [
        UnboundTokens(
            client_id=app.client_id, name=app.name, coordinated=app.pk in coordinated, **per_client[app.pk]
        )
        for app in applications
    ]
