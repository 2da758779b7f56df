"""HTTP views of a user's own sessions: the "your sessions" page, its JSON twin for API clients, and
the page a login refused by the concurrent session limit lands on.

Thin, like every view here: parse, call ``services.user_sessions``, render. Ending goes through the one
``end_session`` (reason ``remote_logout``): tokens revoked per coordination, back-channel logout tokens
sent to the clients of the ended session. Front-channel cannot reach them: that browser is elsewhere.
"""

from __future__ import annotations

import time
from http import HTTPStatus
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from . import browser, untrusted
from .conf import app_settings
from .oauth.resource import BearerError, authenticate_bearer, session_of_token
from .services import user_sessions
from .views import login_not_required, render_error


@method_decorator([csrf_protect, never_cache], name="dispatch")
class SessionsView(LoginRequiredMixin, View):
    """``idp_logout:sessions``: the signed-in user's live sessions; POST ``end=<sid>`` or ``end_others``."""

    template_name = "django_idp_logout/sessions.html"
    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_page(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        own = browser.current_user_session(request)
        own_sid = own.sid if own else None
        try:
            sid = untrusted.single_parameter(request.POST, "end", max_length=untrusted.MAX_ID_LENGTH)
            end_others = untrusted.single_parameter(request.POST, "end_others", max_length=8)
        except untrusted.MalformedInput as exc:
            return render_error(request, [exc])
        if sid:
            try:
                user_sessions.end_own_session(user=request.user, sid=sid, keep_sid=own_sid)
            except user_sessions.SessionNotFound:
                raise Http404(_("No such session of yours.")) from None
        elif end_others:
            if not user_sessions.signed_in_recently(browser.sign_in_time(request), now=time.time()):
                return self.render_page(request, reauthenticate=True, status=HTTPStatus.FORBIDDEN)
            user_sessions.end_other_sessions(user=request.user, keep_sid=own_sid)
        else:
            return render_error(request, [_("Choose a session to sign out.")])
        return HttpResponseRedirect(reverse("idp_logout:sessions"))

    def render_page(self, request: HttpRequest, *, reauthenticate: bool = False, status: int = 200):
        own = browser.current_user_session(request)
        listed = user_sessions.list_sessions(user=request.user, current_sid=own.sid if own else None)
        context = {
            "sessions": listed,
            "other_sessions": [s for s in listed if not s.current],
            "reauthenticate": reauthenticate,
            "login_url": f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': request.path})}",
        }
        return render(request, self.template_name, context, status=status)


@method_decorator([never_cache, login_not_required], name="dispatch")
class SessionLimitView(View):
    """Where a login refused by ``SESSION_LIMIT_POLICY = "deny_new"`` lands: why, and what to do."""

    template_name = "django_idp_logout/session_limit.html"
    http_method_names = ["get", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        context = {"login_url": resolve_url(settings.LOGIN_URL)}
        return render(request, self.template_name, context, status=HTTPStatus.FORBIDDEN)


def json_error(error: str, description: str, status: int) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": str(description)}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@method_decorator([csrf_exempt, never_cache, login_not_required], name="dispatch")
class SessionsApiView(View):
    """JSON for API clients: an access token with ``SESSIONS_API_SCOPE`` lists (GET) its user's live
    sessions and ends one (POST or DELETE on ``.../<sid>/``). Cookies play no part: CSRF-exempt."""

    http_method_names = ["get", "post", "delete", "options"]

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            self.access_token = authenticate_bearer(request, scope=app_settings.SESSIONS_API_SCOPE)
        except BearerError as exc:
            response = json_error(exc.error, exc.description, exc.status)
            if exc.status == HTTPStatus.UNAUTHORIZED or exc.status == HTTPStatus.FORBIDDEN:
                response["WWW-Authenticate"] = exc.www_authenticate
            return response
        return super().dispatch(request, *args, **kwargs)

    def http_method_not_allowed(self, request, *args, **kwargs):
        return json_error("invalid_request", "Method not allowed.", HTTPStatus.METHOD_NOT_ALLOWED)

    def get(self, request: HttpRequest, sid: str | None = None) -> HttpResponse:
        if sid is not None:
            return self.http_method_not_allowed(request)
        own = session_of_token(self.access_token)
        listed = user_sessions.list_sessions(
            user=self.access_token.user, current_sid=own.sid if own else None
        )
        response = JsonResponse({"sessions": [s.as_json() for s in listed]})
        response["Cache-Control"] = "no-store"
        return response

    def post(self, request: HttpRequest, sid: str | None = None) -> HttpResponse:
        if sid is None:
            return self.http_method_not_allowed(request)
        try:
            sid = untrusted.identifier(sid, name="sid")
            result = user_sessions.end_own_session(user=self.access_token.user, sid=sid)
        except untrusted.MalformedInput as exc:
            return json_error("invalid_request", str(exc), HTTPStatus.BAD_REQUEST)
        except user_sessions.SessionNotFound:
            return json_error("not_found", "No live session of this user has that sid.", HTTPStatus.NOT_FOUND)
        response = JsonResponse({"sid": sid, "ended": result.ended_now})
        response["Cache-Control"] = "no-store"
        return response

    delete = post
