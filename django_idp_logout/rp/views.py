"""The two logout receivers the OP calls: back-channel (Back-Channel Logout 1.0 sections 2.5 to 2.8)
and front-channel (Front-Channel Logout 1.0 section 2). Thin: parse, call a service, answer.

Both answer with ``Cache-Control: no-store`` (section 2.8), whatever the outcome.
"""

from __future__ import annotations

from http import HTTPStatus

from django.contrib.auth import logout
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from .. import untrusted
from . import services, tokens
from .conf import rp_settings
from .models import EndReason

try:  # Django 5.1+: stay reachable under LoginRequiredMiddleware
    from django.contrib.auth.decorators import login_not_required
except ImportError:  # pragma: no cover - Django 4.2

    def login_not_required(view):
        return view


def _error(description: str) -> JsonResponse:
    return JsonResponse(
        {"error": "invalid_request", "error_description": description}, status=HTTPStatus.BAD_REQUEST
    )


class _NoStoreMixin:
    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class BackChannelLogoutView(_NoStoreMixin, View):
    """POST ``logout_token=<JWT>`` from the OP's server: 200 with an empty body when the token is valid
    (also when no local session matches: there is nothing left to end), 400 with a JSON ``error`` and
    ``error_description`` otherwise (invalid token, replayed ``jti``, or keys unavailable)."""

    http_method_names = ["post"]

    def post(self, request):
        values = request.POST.getlist("logout_token")
        if len(values) != 1:
            return _error("send exactly one logout_token parameter in a form-encoded body")
        try:
            claims = tokens.validate_logout_token(values[0])
            services.end_sessions_for_logout_token(claims)
        except tokens.InvalidLogoutToken as exc:
            return _error(str(exc))
        return HttpResponse(status=HTTPStatus.OK)


@method_decorator([xframe_options_exempt, login_not_required], name="dispatch")
class FrontChannelLogoutView(_NoStoreMixin, View):
    """GET ``?iss=...&sid=...``, loaded by the OP's logged-out page in a hidden iframe: ends the local
    sessions of that OP session and renders ``template_name`` (framable by design).

    Both parameters are required: without them the only way to pick a session would be the browser's
    cookie, and any site could then sign our users out with an iframe. Register the URI at the OP with
    ``frontchannel_logout_session_required = true``.
    """

    http_method_names = ["get"]
    template_name = "idp_logout_rp/frontchannel_logged_out.html"

    def get(self, request):
        issuers, sids = request.GET.getlist("iss"), request.GET.getlist("sid")
        if len(issuers) != 1 or len(sids) != 1 or not sids[0]:
            return _error("send exactly one iss and one sid")
        if not rp_settings.ISSUER or issuers[0] != rp_settings.ISSUER:
            return _error("iss is not the expected issuer")
        if untrusted.problem(sids[0], max_length=tokens.MAX_ID_LENGTH):
            return _error("sid is not a valid identifier")
        ended = services.end_sessions(issuer=issuers[0], sid=sids[0], reason=EndReason.FRONTCHANNEL_LOGOUT)
        # The iframe may carry the user's own cookie: sign this browser out now, so the session is not
        # saved again on the way out (and the cookie is cleared).
        session = getattr(request, "session", None)
        if session is not None and session.get(services.LOCAL_KEY_SESSION_KEY) in ended.local_keys:
            logout(request)
        return render(request, self.template_name, {"ended": ended.count})
