"""State of the client-site kit: an index of OIDC-authenticated local sessions, and the ``jti`` values
of logout tokens already received (replay protection, Back-Channel Logout 1.0 section 2.6 step 10).

The index maps the OP's ``(iss, sid)`` and ``(iss, sub)`` to local sessions, so a logout notification
is a couple of indexed lookups, never a scan of the session store. Each row is keyed by a random
``local_key`` that is also stored inside the Django session itself: that works with every session
engine, signed cookies included, and survives ``cycle_key()``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EndReason(models.TextChoices):
    BACKCHANNEL_LOGOUT = "backchannel_logout", _("Back-channel logout from the OP")
    FRONTCHANNEL_LOGOUT = "frontchannel_logout", _("Front-channel logout from the OP")
    LOCAL_LOGOUT = "local_logout", _("Signed out on this site")
    REPLACED = "replaced", _("Replaced by a new login in the same browser")


class RPSession(models.Model):
    """One local Django session that was signed in through the OP."""

    # Random, stored in the Django session under ``LOCAL_KEY_SESSION_KEY``; never the session key.
    local_key = models.CharField(_("local key"), max_length=64, unique=True)
    # The Django session key at login, for engines with a server-side store ("" for signed cookies).
    # A shortcut for deleting the stored session, and for telling a browser whose stored session the OP
    # ended why it is signed out (``rp.notice``); the middleware's check relies on ``local_key``.
    session_key = models.CharField(_("session key"), max_length=255, blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="idp_logout_rp_sessions",
        verbose_name=_("user"),
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    sub = models.CharField(_("subject"), max_length=255, db_index=True)
    sid = models.CharField(_("OP session id"), max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(_("signed in at"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=32, blank=True, choices=EndReason.choices)

    class Meta:
        verbose_name = _("OIDC client session")
        verbose_name_plural = _("OIDC client sessions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["session_key"], name="idp_logout_rp_session_key")]

    def __str__(self) -> str:
        return f"{self.sub} @ {self.issuer} (sid {self.sid or '-'})"


class ReceivedLogoutToken(models.Model):
    """A logout token already acted upon; a second delivery of the same ``jti`` is refused."""

    # sha256 of issuer + NUL + jti: fixed length whatever the OP's jti looks like.
    digest = models.CharField(_("digest"), max_length=64, unique=True)
    # The token's ``exp`` plus the leeway: after that it is refused as expired, so the row can go.
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("received logout token")
        verbose_name_plural = _("received logout tokens")

    def __str__(self) -> str:
        return self.digest
