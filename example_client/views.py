"""The example client site's one page: who is signed in here, and the buttons to sign in and out."""

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control, never_cache

from django_idp_logout.rp.notice import signed_out_by_provider
from django_idp_logout.rp.receivers import ID_TOKEN_SESSION_KEY, unverified_claims

FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#2e7d4f"/><circle cx="8" cy="8" r="3.5" fill="#fff"/></svg>'
)


@never_cache
def home(request):
    claims = unverified_claims(request.session.get(ID_TOKEN_SESSION_KEY)) or {}
    user = request.user
    # Signed out everywhere: back from the OP's logout (it appends our ``state``), or signed out here by
    # the kit because the OP said so (back- or front-channel: a one-time note in the session).
    everywhere = not user.is_authenticated and (
        bool(request.GET.get("state")) or signed_out_by_provider(request)
    )
    return render(
        request,
        "example_client/home.html",
        {
            "client_name": settings.CLIENT_NAME,
            "display_name": (user.first_name or user.get_username()) if user.is_authenticated else "",
            "sid": claims.get("sid", ""),
            "idp_url": settings.IDP_URL,
            "links": settings.CLIENT_LINKS,
            "signed_out_everywhere": everywhere,
        },
    )


@cache_control(max_age=86400, public=True)
def favicon(request):
    """A small icon, so browsers asking for /favicon.ico get one instead of a 404."""
    return HttpResponse(FAVICON, content_type="image/svg+xml")
