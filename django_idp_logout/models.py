"""State of django-idp-logout: login sessions, the tokens bound to them, and per-client options.

Side tables only: DOT's models are never swapped, and every reference to them goes through
``oauth2_settings.*_MODEL`` so projects that swap DOT's models keep working.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.settings import oauth2_settings


def new_sid() -> str:
    """A fresh ``sid``: 256 random bits, unrelated to the Django session key."""
    return secrets.token_urlsafe(32)


#: The stored length of a User-Agent; longer ones are cut (real ones are under 300 characters).
USER_AGENT_MAX_LENGTH = 512


class EndReason(models.TextChoices):
    USER_LOGOUT = "user_logout", _("User logout")
    SESSION_EXPIRATION = "session_expiration", _("Session expired")
    TERMINATED = "terminated", _("Terminated by an operator")
    UPSTREAM_LOGOUT = "upstream_logout", _("Upstream provider logout")
    REMOTE_LOGOUT = "remote_logout", _("Signed out by the user from another device")
    SESSION_LIMIT = "session_limit", _("Ended by the concurrent session limit")


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
    # Set when the user signed in through an upstream provider (mozilla-django-oidc): what the return
    # trip of an external logout needs, captured at login because auth.logout() flushes the session.
    upstream_issuer = models.CharField(_("upstream issuer"), max_length=512, blank=True)
    upstream_sid = models.CharField(_("upstream sid"), max_length=255, blank=True)
    upstream_sub = models.CharField(_("upstream subject"), max_length=255, blank=True)
    upstream_id_token = models.TextField(_("upstream ID token"), blank=True, editable=False)
    # What a person needs to recognise the session on the "your sessions" page, captured at login
    # (django_idp_logout.devices): the raw User-Agent (bounded, sanitised), its browser and OS, the IP.
    user_agent = models.CharField(_("user agent"), max_length=USER_AGENT_MAX_LENGTH, blank=True)
    browser = models.CharField(_("browser"), max_length=64, blank=True)
    os = models.CharField(_("operating system"), max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
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
            models.Index(fields=["upstream_issuer", "upstream_sid"], name="idp_logout_us_upstream_sid"),
            models.Index(fields=["upstream_issuer", "upstream_sub"], name="idp_logout_us_upstream_sub"),
            models.Index(fields=["user", "ended_at"], name="idp_logout_us_user_live"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.sid[:8]}…)"


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
    """Binds one DOT token (exactly one of the five) to the session it was issued in.

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
    # RFC 8628: the device grant approved in this session; the device's tokens are bound when issued.
    device_grant = models.OneToOneField(
        oauth2_settings.DEVICE_GRANT_MODEL,
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

    frontchannel_logout_uri = models.CharField(
        _("front-channel logout URI"),
        max_length=2048,
        blank=True,
        help_text=_("OIDC Front-Channel Logout 1.0: loaded in an iframe on the logged-out page."),
    )
    frontchannel_logout_session_required = models.BooleanField(
        _("front-channel logout session required"),
        default=True,
        help_text=_("Add iss and sid to the front-channel logout URI."),
    )
    backchannel_logout_uri = models.CharField(
        _("back-channel logout URI"),
        max_length=2048,
        blank=True,
        help_text=_("OIDC Back-Channel Logout 1.0: receives a logout token by POST when a session ends."),
    )
    backchannel_logout_session_required = models.BooleanField(
        _("back-channel logout session required"),
        default=True,
        help_text=_("The client needs the sid claim in logout tokens."),
    )
    logout_token_typ = models.CharField(
        _("logout token typ header"),
        max_length=32,
        default="logout+jwt",
        choices=[("logout+jwt", "logout+jwt"), ("JWT", "JWT")],
        help_text=_(
            "Back-Channel Logout 1.0 recommends logout+jwt; choose JWT only for clients that reject it."
        ),
    )

    class Meta:
        verbose_name = _("client logout settings")
        verbose_name_plural = _("client logout settings")

    def __str__(self) -> str:
        return str(self.application)

    def clean(self) -> None:
        errors = {}
        for name in ("frontchannel_logout_uri", "backchannel_logout_uri"):
            message = logout_uri_error(getattr(self, name))
            if message:
                errors[name] = message
        if errors:
            raise ValidationError(errors)


def logout_uri_error(uri: str) -> str | None:
    """Why ``uri`` is not acceptable as a logout URI, or None. Absolute, no fragment, https (http only
    for loopback hosts or with DEBUG)."""
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("Enter an absolute http(s) URI, e.g. https://rp.example.com/logout.")
    if "#" in uri:
        return _("A logout URI must not have a fragment (#...).")
    if "@" in parts.netloc or any(ch.isspace() or ch in ",;'\"" for ch in parts.netloc):
        return _("A logout URI must not carry credentials, spaces or separators in its host.")
    if parts.scheme == "http" and not (settings.DEBUG or _is_loopback(parts.hostname)):
        return _("Use https: http is only allowed for loopback hosts or with DEBUG.")
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class BackchannelNotification(models.Model):
    """Outbox row: one back-channel logout notification per (session, client).

    Written in the transaction that ends the session, so a crash between commit and delivery loses
    nothing: ``idp_logout_deliver`` (or the Celery beat task) sends whatever is due.
    """

    user_session = models.ForeignKey(UserSession, on_delete=models.CASCADE, related_name="notifications")
    application = models.ForeignKey(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    uri = models.CharField(_("back-channel logout URI"), max_length=2048)
    reason = models.CharField(_("reason"), max_length=32, choices=EndReason.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_status_code = models.PositiveIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    # Set by the batch claim (one UPDATE for many rows): the rows that carry this run's token are the
    # ones this worker took, on every database, with or without row locks.
    claim_token = models.CharField(_("claim"), max_length=32, blank=True, default="", editable=False)

    class Meta:
        verbose_name = _("back-channel notification")
        verbose_name_plural = _("back-channel notifications")
        constraints = [
            models.UniqueConstraint(
                fields=["user_session", "application"], name="idp_logout_notification_once"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="idp_logout_notification_due")]

    def __str__(self) -> str:
        return f"{self.uri} ({self.status})"


class BackchannelCircuit(models.Model):
    """The circuit breaker of one client's back-channel endpoint.

    After ``BACKCHANNEL_CIRCUIT_FAILURES`` failed attempts in a row the client is paused until
    ``paused_until`` (``BACKCHANNEL_CIRCUIT_PAUSE`` seconds, doubled for each pause in a row, at most
    an hour): its notifications stay due but no worker claims them, so a dead client holds no sender.
    A delivered notification closes the circuit again.
    """

    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="backchannel_circuit"
    )
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    pauses = models.PositiveIntegerField(_("pauses in a row"), default=0)
    paused_until = models.DateTimeField(_("paused until"), null=True, blank=True, db_index=True)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("back-channel circuit")
        verbose_name_plural = _("back-channel circuits")

    def __str__(self) -> str:
        return str(self.application)  # the admin's titles and history name the client


class UpstreamLogoutToken(models.Model):
    """An upstream logout token already acted upon (``jti`` replay protection, Back-Channel Logout 1.0
    section 2.6 step 10). Rows may be deleted once ``expires_at`` has passed."""

    digest = models.CharField(_("digest"), max_length=64, unique=True)  # sha256(issuer NUL jti)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("upstream logout token")
        verbose_name_plural = _("upstream logout tokens")

    def __str__(self) -> str:
        return self.digest
