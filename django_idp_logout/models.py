"""State of django-idp-logout: login sessions, the tokens bound to them, and per-client options.

Side tables only: DOT's models are never swapped, and every reference to them goes through
``oauth2_settings.*_MODEL`` so projects that swap DOT's models keep working.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.settings import oauth2_settings


def new_sid() -> str:
    """A fresh ``sid``: 256 random bits, unrelated to the Django session key."""
    return secrets.token_urlsafe(32)


class EndReason(models.TextChoices):
    USER_LOGOUT = "user_logout", _("User logout")
    SESSION_EXPIRATION = "session_expiration", _("Session expired")
    TERMINATED = "terminated", _("Terminated by an operator")
    UPSTREAM_LOGOUT = "upstream_logout", _("Upstream provider logout")


class UserSessionQuerySet(models.QuerySet):
    def active(self):
        return self.filter(ended_at__isnull=True)

    def ended(self):
        return self.filter(ended_at__isnull=False)


class UserSession(models.Model):
    """One login session of a user at this identity provider (OIDC's ``sid``)."""

    sid = models.CharField(_("session id (sid)"), max_length=64, unique=True, default=new_sid, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="idp_logout_sessions",
        verbose_name=_("user"),
    )
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    last_activity = models.DateTimeField(_("last activity"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=32, blank=True, choices=EndReason.choices)
    clients = models.ManyToManyField(
        oauth2_settings.APPLICATION_MODEL,
        through="SessionClient",
        related_name="+",
        verbose_name=_("clients"),
    )

    objects = UserSessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("user session")
        verbose_name_plural = _("user sessions")
        indexes = [
            models.Index(fields=["ended_at", "last_activity"], name="idp_logout_us_idle"),
            models.Index(fields=["ended_at", "created_at"], name="idp_logout_us_absolute"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.sid[:8]}…)"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class SessionClient(models.Model):
    """A client that took part in a session (an authorization was made for it during the session)."""

    user_session = models.ForeignKey(UserSession, on_delete=models.CASCADE, related_name="session_clients")
    application = models.ForeignKey(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("session client")
        verbose_name_plural = _("session clients")
        constraints = [
            models.UniqueConstraint(
                fields=["user_session", "application"], name="idp_logout_session_client_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.application_id} in {self.user_session_id}"


class SessionToken(models.Model):
    """Binds one DOT token (exactly one of the four) to the session it was issued in.

    The foreign keys cascade, so DOT's own clean-up (``cleartokens``) also removes the binding.
    """

    user_session = models.ForeignKey(UserSession, on_delete=models.CASCADE, related_name="tokens")
    application = models.ForeignKey(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    grant = models.OneToOneField(
        oauth2_settings.GRANT_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="idp_logout_binding",
    )
    access_token = models.OneToOneField(
        oauth2_settings.ACCESS_TOKEN_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="idp_logout_binding",
    )
    refresh_token = models.OneToOneField(
        oauth2_settings.REFRESH_TOKEN_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="idp_logout_binding",
    )
    id_token = models.OneToOneField(
        oauth2_settings.ID_TOKEN_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="idp_logout_binding",
    )

    class Meta:
        verbose_name = _("session token")
        verbose_name_plural = _("session tokens")
        indexes = [models.Index(fields=["user_session", "application"], name="idp_logout_st_session_app")]

    def __str__(self) -> str:
        return f"token of session {self.user_session_id}"


class ClientLogoutSettings(models.Model):
    """Per-client logout options, edited inline on DOT's Application admin page."""

    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="logout_settings",
        verbose_name=_("application"),
    )
    coordinate_lifetime_with_user_session = models.BooleanField(
        _("coordinate lifetime with user session"),
        null=True,
        blank=True,
        default=None,
        choices=[(None, _("Inherit the global setting")), (True, _("Yes")), (False, _("No"))],
        help_text=_(
            "Yes: when the user's session at this identity provider ends, this client's tokens of that "
            "session are revoked. Inherit: use IDP_LOGOUT['COORDINATE_LIFETIME_WITH_USER_SESSION']."
        ),
    )

    class Meta:
        verbose_name = _("client logout settings")
        verbose_name_plural = _("client logout settings")

    def __str__(self) -> str:
        return str(self.application)
