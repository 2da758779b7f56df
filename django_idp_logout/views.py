"""HTTP views: parse input, call one service, render or redirect. No behaviour lives here.

- ``EndSessionView``: the OIDC end_session_endpoint (RP-Initiated Logout 1.0); validates and hands a
  ``logout_id`` to the logout page. It never signs anyone out (DESIGN rule 1).
- ``LogoutView``: the prompt. GET shows it (or signs out at once when a validated client asked for this
  very session); POST, CSRF-checked, signs out. Hotlinking it therefore cannot sign anyone out.
- ``LoggedOutView``: tells the user they are signed out and sends them back to a proven client.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlencode, urlsplit

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from . import browser, locales, untrusted
from .conf import app_settings
from .forms import EndSessionRequestForm, LogoutConfirmForm
from .services import external, upstream
from .services.context import (
    InvalidLogoutId,
    LogoutRequest,
    create_completed_id,
    create_logout_id,
    get_completed_context,
    get_logout_context,
    prompt_enabled,
)
from .services.endsession import EndSessionError, validate_end_session_request
from .services.notifications import frame_origins

try:  # Django 5.1+: opt out of LoginRequiredMiddleware
    from django.contrib.auth.decorators import login_not_required
except ImportError:  # pragma: no cover - Django < 5.1

    def login_not_required(view):
        return view


class ClientRedirect(HttpResponseRedirect):
    """A redirect to a URI the client registered; its scheme was validated with the client's."""

    def __init__(self, url: str):
        self.allowed_schemes = [urlsplit(url).scheme]
        super().__init__(url)


def render_error(request: HttpRequest, messages, *, ui_locales: str | None = None) -> HttpResponse:
    """The 400 page: says what was wrong, never redirects to a client."""
    with locales.override_for(ui_locales):
        response = render(
            request,
            "django_idp_logout/error.html",
            {"messages": [str(m) for m in messages]},
            status=HTTPStatus.BAD_REQUEST,
        )
    response["Cache-Control"] = "no-store"
    return response


@method_decorator([csrf_exempt, never_cache, login_not_required], name="dispatch")
class EndSessionView(View):
    """OpenID Connect end_session_endpoint: GET and POST, CSRF-exempt (it changes nothing itself)."""

    form_class = EndSessionRequestForm
    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.handle(request, request.GET)

    def post(self, request: HttpRequest) -> HttpResponse:
        return self.handle(request, request.POST)

    def handle(self, request: HttpRequest, params) -> HttpResponse:
        ui_locales = params.get("ui_locales")
        ui_locales = None if untrusted.problem(ui_locales, max_length=256) else ui_locales
        with locales.override_for(ui_locales):
            return self.validate_and_redirect(request, params, ui_locales)

    def validate_and_redirect(self, request: HttpRequest, params, ui_locales: str | None) -> HttpResponse:
        form = self.form_class(data=params)
        if not form.is_valid():
            return render_error(request, form.error_messages_for_page(), ui_locales=ui_locales)
        try:
            logout_request = validate_end_session_request(**form.cleaned_data, request=request)
        except EndSessionError as exc:
            return render_error(request, [exc], ui_locales=ui_locales)
        logout_id = create_logout_id(request, logout_request)
        return HttpResponseRedirect(f"{reverse('idp_logout:logout')}?{urlencode({'logout_id': logout_id})}")


def logged_out_url(completed_id: str) -> str:
    return f"{reverse('idp_logout:logged_out')}?{urlencode({'id': completed_id})}"


def sign_out(request: HttpRequest, logout_request: LogoutRequest, *, confirmed: bool) -> HttpResponse:
    """``auth.logout`` (which ends the server-side session; harmless for an anonymous visitor), then the
    logged-out page, by way of the upstream provider's end session endpoint when the user signed in
    through one."""
    user_session = browser.current_user_session(request, create=False)
    upstream_id_token = user_session.upstream_id_token if user_session is not None else ""
    logout(request)
    completed_id = create_completed_id(logout_request, confirmed=confirmed)
    if upstream_id_token:
        callback = request.build_absolute_uri(reverse("idp_logout:external_logout_callback"))
        upstream = external.upstream_logout_url(
            id_token=upstream_id_token, callback_url=callback, completed_id=completed_id
        )
        if upstream:
            return HttpResponseRedirect(upstream)
    return HttpResponseRedirect(logged_out_url(completed_id))


@method_decorator([csrf_protect, never_cache, login_not_required], name="dispatch")
class LogoutView(View):
    """The logout prompt (Duende's logout page)."""

    template_name = "django_idp_logout/logout_prompt.html"
    cancelled_template_name = "django_idp_logout/logout_cancelled.html"
    form_class = LogoutConfirmForm
    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        logout_id = request.GET.get("logout_id")
        try:
            logout_request = get_logout_context(request, logout_id)
        except InvalidLogoutId:
            return render_error(
                request, [_("This logout link is invalid or has expired. You are still signed in.")]
            )
        # No prompt for anonymous visitors (nothing to confirm) or a validated request for this session.
        if not logout_request.show_signout_prompt or not prompt_enabled():
            return sign_out(request, logout_request, confirmed=False)
        form = self.form_class(initial={"logout_id": logout_id or ""})
        with locales.override_for(logout_request.ui_locales):
            return render(request, self.template_name, {"form": form, "logout_request": logout_request})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self.form_class(data=request.POST)
        logout_id = form.cleaned_data["logout_id"] if form.is_valid() else None
        try:
            logout_request = get_logout_context(request, logout_id)
        except InvalidLogoutId:
            # The user confirmed on our (CSRF-protected) page: sign out, trusting nothing from the token
            # but keeping what the current session knows (its sid and clients: front-channel iframes).
            logout_request = get_logout_context(request, None)
        if "cancel" in request.POST:
            with locales.override_for(logout_request.ui_locales):
                return render(request, self.cancelled_template_name, {"logout_request": logout_request})
        return sign_out(request, logout_request, confirmed=True)


@method_decorator([never_cache, login_not_required], name="dispatch")
class LoggedOutView(View):
    """The page after sign-out; sends the browser back to a proven client (DESIGN rule 9)."""

    template_name = "django_idp_logout/logged_out.html"
    http_method_names = ["get", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            logout_request, confirmed = get_completed_context(request.GET.get("id"))
        except InvalidLogoutId:
            logout_request, confirmed = LogoutRequest(), False
        redirect_url = logout_request.redirect_url(confirmed=confirmed)
        automatic = bool(redirect_url) and app_settings.AUTOMATIC_REDIRECT_AFTER_SIGN_OUT
        frames = logout_request.frontchannel_logout_urls
        if automatic and not frames:
            return ClientRedirect(redirect_url)
        with locales.override_for(logout_request.ui_locales):
            response = render(
                request,
                self.template_name,
                {
                    "logout_request": logout_request,
                    "redirect_url": redirect_url,
                    "automatic_redirect": automatic,
                    "frontchannel_logout_urls": frames,
                    "redirect_data": {"url": redirect_url, "timeout": app_settings.FRONTCHANNEL_TIMEOUT},
                    "frontchannel_timeout": app_settings.FRONTCHANNEL_TIMEOUT,
                },
            )
        response["Cache-Control"] = "no-store"
        if frames:
            # Front-Channel Logout 1.0: this page may frame exactly the session's clients.
            response["Content-Security-Policy"] = "frame-src " + " ".join(frame_origins(frames))
        return response


@method_decorator([never_cache, login_not_required], name="dispatch")
class ExternalLogoutCallbackView(View):
    """Where the upstream provider sends the browser back after its own logout."""

    http_method_names = ["get", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            completed_id = external.completed_id_from_state(request.GET.get("state"))
        except external.InvalidState:
            # Our own logout already happened: finish locally, no redirect to any client, no loop.
            response = render(
                request,
                LoggedOutView.template_name,
                {
                    "logout_request": LogoutRequest(),
                    "redirect_url": None,
                    "upstream_unconfirmed": True,
                },
            )
            response["Cache-Control"] = "no-store"
            return response
        return HttpResponseRedirect(logged_out_url(completed_id))


@method_decorator([csrf_exempt, never_cache, login_not_required], name="dispatch")
class UpstreamBackchannelLogoutView(View):
    """The upstream provider's back-channel logout calls (we are its relying party): 200 or 400 JSON."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            upstream.handle_backchannel_logout(untrusted.single_parameter(request.POST, "logout_token"))
        except (untrusted.MalformedInput, upstream.UpstreamLogoutError) as exc:
            response = JsonResponse({"error": "invalid_request", "error_description": str(exc)}, status=400)
        else:
            response = HttpResponse(status=HTTPStatus.OK)
        response["Cache-Control"] = "no-store"
        return response


@method_decorator([never_cache, login_not_required], name="dispatch")
class UpstreamFrontchannelLogoutView(View):
    """The upstream provider's front-channel logout iframe (``iss`` + ``sid``)."""

    http_method_names = ["get", "options"]
    template_name = "django_idp_logout/upstream_frontchannel.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            upstream.handle_frontchannel_logout(
                iss=untrusted.single_parameter(request.GET, "iss"),
                sid=untrusted.single_parameter(request.GET, "sid"),
            )
            status = HTTPStatus.OK
        except (untrusted.MalformedInput, upstream.UpstreamLogoutError):
            status = HTTPStatus.BAD_REQUEST
        response = render(request, self.template_name, {"ok": status == HTTPStatus.OK}, status=status)
        response["Cache-Control"] = "no-store"
        return response
