"""The example IdP's home page, and a tiny built-in relying party ("demo client") to try logout with.

The demo client runs the authorization code flow with PKCE against this very server, keeps the ID
token, and offers RP-initiated logout with and without ``id_token_hint``. A real client lives on
another site; this one shares the IdP's origin only to keep the demo to one process.
"""

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import cache_control

CLIENT_ID = "demo-client"


def _issuer() -> str:
    return settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"]


def _origin(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#2454c5"/>'
    '<path d="M5 4h6v2H9v4h2v2H5v-2h2V6H5z" fill="#fff"/></svg>'
)


def home(request):
    return render(request, "demo/home.html", {"client_id": CLIENT_ID})


@cache_control(max_age=86400, public=True)
def favicon(request):
    """A small icon, so browsers asking for /favicon.ico get one instead of a 404."""
    return HttpResponse(FAVICON, content_type="image/svg+xml")


def client_home(request):
    id_token = request.session.get("demo_client_id_token")
    origin = _origin(request)
    signed_out = f"{origin}{reverse('demo_client:signed_out')}"
    end_session = f"{origin}{reverse('idp_logout:end_session')}"
    with_hint = with_client = None
    if id_token:
        with_hint = f"{end_session}?" + urlencode(
            {"id_token_hint": id_token, "post_logout_redirect_uri": signed_out, "state": secrets.token_hex(8)}
        )
    with_client = f"{end_session}?" + urlencode(
        {"client_id": CLIENT_ID, "post_logout_redirect_uri": signed_out, "state": secrets.token_hex(8)}
    )
    return render(
        request,
        "demo/client.html",
        {"id_token": id_token, "logout_with_hint": with_hint, "logout_with_client_id": with_client},
    )


def client_login(request):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    request.session["demo_client_pkce"] = {"verifier": verifier, "state": state}
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": f"{_origin(request)}{reverse('demo_client:callback')}",
            "scope": "openid profile",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return HttpResponseRedirect(f"{reverse('oauth2_provider:authorize')}?{query}")


def client_callback(request):
    pkce = request.session.pop("demo_client_pkce", None)
    if not pkce or request.GET.get("state") != pkce["state"] or "code" not in request.GET:
        return HttpResponseBadRequest("The demo client did not expect this callback.")
    response = requests.post(
        f"{_origin(request)}{reverse('oauth2_provider:token')}",
        data={
            "grant_type": "authorization_code",
            "code": request.GET["code"],
            "redirect_uri": f"{_origin(request)}{reverse('demo_client:callback')}",
            "client_id": CLIENT_ID,
            "code_verifier": pkce["verifier"],
        },
        timeout=10,
    )
    if response.status_code != 200:
        return HttpResponseBadRequest(f"Token request failed: {response.text[:200]}")
    request.session["demo_client_id_token"] = response.json()["id_token"]
    return HttpResponseRedirect(reverse("demo_client:home"))


def client_signed_out(request):
    return render(request, "demo/signed_out.html", {"state": request.GET.get("state")})
