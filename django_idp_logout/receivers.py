"""Receivers for Django's auth signals: any login starts (or resumes) a session, any logout ends it.

``user_logged_out`` fires before the session is flushed, so the ``sid`` can still be read there.
"""

from __future__ import annotations

from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from . import browser, devices
from .models import EndReason, UserSession
from .services import external, limits, sessions


@receiver(user_logged_in, dispatch_uid="django_idp_logout.receivers.start_session")
def start_or_resume_session(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    sid = request.session.get(browser.SID_SESSION_KEY)
    user_session = UserSession.objects.filter(sid=sid, user=user).first() if sid else None
    if user_session is not None and sessions.is_live(user_session):
        sessions.record_activity(user_session)  # re-login of the same user in the same browser keeps the sid
    else:
        outcome = limits.start_session_within_limit(
            user=user, details=devices.from_request(request).as_fields()
        )
        if outcome.denied:  # SESSION_LIMIT_POLICY "deny_new": the middleware shows why
            browser.undo_login(request, limit=outcome.limit)
            return
        user_session = browser.attach(request, outcome.user_session)
    browser.record_sign_in_time(request)
    if external.is_upstream_backend(request.session.get(BACKEND_SESSION_KEY)):
        external.record_upstream_login(
            user_session, id_token=request.session.get(external.ID_TOKEN_SESSION_KEY)
        )


@receiver(user_logged_out, dispatch_uid="django_idp_logout.receivers.end_session")
def end_session_on_logout(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    sid = request.session.get(browser.SID_SESSION_KEY)
    if not sid:
        return
    user_session = UserSession.objects.filter(sid=sid).first()
    if user_session is not None:
        sessions.end_session(user_session=user_session, reason=EndReason.USER_LOGOUT)


def connect_client_origin_receivers() -> None:
    """Drop the cached client origins of the check_session_iframe whenever a client changes."""
    from django.db.models.signals import post_delete, post_save
    from oauth2_provider.models import get_application_model

    from .services.client_origins import forget_registered_origins

    application_model = get_application_model()
    for signal in (post_save, post_delete):
        signal.connect(
            forget_registered_origins,
            sender=application_model,
            dispatch_uid=f"django_idp_logout.receivers.client_origins.{signal is post_save}",
        )
