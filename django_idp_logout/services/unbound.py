"""Tokens bound to no session: what DOT issued before the app was installed (docs/adopting.md).

They cannot be placed in a session, and DOT's own logout would have deleted them. So when any session of
their user ends, the user's unbound tokens of every coordinated browser client are revoked with it, in
a flat number of statements (``revoke_unbound_tokens``); ``idp_logout_unbound_tokens`` reports how many
are left (``count_unbound_tokens``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
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


def coordinated_browser_client(prefix: str = "") -> Q:
    """The condition on an Application (reached through ``prefix``, e.g. ``"application__"``) that its
    effective coordinate setting is true and that it signs users in through a browser."""
    own = f"{prefix}logout_settings__coordinate_lifetime_with_user_session"
    coordinated = Q(**{own: True})
    if app_settings.COORDINATE_LIFETIME_WITH_USER_SESSION:
        coordinated |= Q(**{f"{own}__isnull": True})  # no row, or "inherit"
    return coordinated & Q(**{f"{prefix}authorization_grant_type__in": BROWSER_GRANT_TYPES})


# kind -> (model getter, SessionToken field pointing at it, filters that keep only live rows)
_KINDS = {
    "refresh_tokens": (get_refresh_token_model, "refresh_token", {"revoked__isnull": True}),
    "access_tokens": (get_access_token_model, "access_token", {}),
    "id_tokens": (get_id_token_model, "id_token", {}),
    "grants": (get_grant_model, "grant", {}),
}


def unbound_queryset(kind: str, **filters) -> QuerySet:
    """Rows of one token ``kind`` matching ``filters`` that no ``SessionToken`` points at (refresh
    tokens: not revoked)."""
    get_model, binding_field, live = _KINDS[kind]
    return (
        get_model()
        .objects.filter(**live, **filters)
        .exclude(Exists(SessionToken.objects.filter(**{binding_field: OuterRef("pk")})))
    )


def revocable_queryset(kind: str, **filters) -> QuerySet:
    """``unbound_queryset`` without what ``KEEP_OFFLINE_ACCESS_TOKENS`` keeps, as for bound tokens."""
    queryset = unbound_queryset(kind, **filters)
    if app_settings.KEEP_OFFLINE_ACCESS_TOKENS:
        if kind == "refresh_tokens":
            queryset = queryset.exclude(access_token__scope__contains=OFFLINE_ACCESS)
        elif kind == "access_tokens":
            queryset = queryset.exclude(scope__contains=OFFLINE_ACCESS)
    return queryset


def clients_with_unbound_tokens(user_id) -> dict[int, str]:
    """{application pk: client_id} of the coordinated browser clients holding unbound access or refresh
    tokens of the user (what DOT's logout deleted; their ID tokens and codes go with them). One
    statement, driven by the user's own tokens, so its cost follows the user's token count, not the
    number of clients. Nothing found: nothing more to do."""
    access, refresh = (
        revocable_queryset(kind, user_id=user_id)
        .filter(coordinated_browser_client("application__"))
        .order_by()
        .values_list("application_id", "application__client_id")
        for kind in ("access_tokens", "refresh_tokens")
    )
    return dict(access.union(refresh))


def any_revocable_unbound_tokens() -> bool:
    """Whether any user holds unbound tokens that ending a session would revoke. One EXISTS per kind,
    which stops at the first it finds; when there is none it reads the token tables once, so a bulk run
    asks once, not per batch (``sessions.UnboundTokensLook``). Codes count too: exchanging an unbound
    code is, with refreshing an unbound refresh token, the only way new unbound tokens appear, so when
    this says none, none can appear."""
    return any(
        revocable_queryset(kind).filter(coordinated_browser_client("application__")).exists()
        for kind in ("access_tokens", "refresh_tokens", "grants")
    )


def revoke_unbound_tokens(user_id, application_ids: Iterable[int]) -> RevocationCounts:
    """Revoke the user's unbound tokens of the given clients (see ``clients_with_unbound_tokens``), as
    ``revoke_session_tokens`` does for bound ones. Call inside a transaction."""
    application_ids = list(application_ids)
    counts = RevocationCounts()
    if not application_ids:
        return counts
    AccessToken = get_access_token_model()
    filters = {"user_id": user_id, "application_id__in": application_ids}
    access_tokens = revocable_queryset("access_tokens", **filters)
    counts.refresh_tokens = revocable_queryset("refresh_tokens", **filters).update(
        revoked=timezone.now(), access_token=None
    )
    get_refresh_token_model().objects.filter(access_token__in=access_tokens).update(access_token=None)
    counts.access_tokens = _raw_delete(access_tokens)
    counts.id_tokens = _raw_delete(
        unbound_queryset("id_tokens", **filters).exclude(
            Exists(AccessToken.objects.filter(id_token=OuterRef("pk")))
        )
    )
    counts.grants = _raw_delete(unbound_queryset("grants", **filters))
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
    filters = {"user__isnull": False, "application__authorization_grant_type__in": BROWSER_GRANT_TYPES}
    per_client: dict[int, dict[str, int]] = {}
    for kind in _KINDS:
        queryset = unbound_queryset(kind, **filters)
        if kind != "refresh_tokens":  # refresh tokens do not expire by time in DOT
            queryset = queryset.filter(expires__gt=now)
        for application_id, n in (
            queryset.order_by()
            .values_list("application_id")
            .annotate(n=Count("pk"))
            .values_list("application_id", "n")
        ):
            per_client.setdefault(application_id, {})[kind] = n
    applications = (
        get_application_model()
        .objects.filter(pk__in=per_client)
        .annotate(coordinated=ExpressionWrapper(coordinated_browser_client(), output_field=BooleanField()))
        .order_by("client_id")
    )
    return [
        UnboundTokens(
            client_id=app.client_id, name=app.name, coordinated=app.coordinated, **per_client[app.pk]
        )
        for app in applications
    ]
