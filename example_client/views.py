"""The example client site's one page: who is signed in here, and the buttons to sign in and out."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from django_idp_logout.rp.receivers import ID_TOKEN_SESSION_KEY, unverified_claims


@never_cache
def home(request):
    claims = unverified_claims(request.session.get(ID_TOKEN_SESSION_KEY)) or {}
    user = request.user
    return render(
        request,
        "example_client/home.html",
        {
            "client_name": settings.CLIENT_NAME,
            "display_name": (user.first_name or user.get_username()) if user.is_authenticated else "",
            "sid": claims.get("sid", ""),
            "idp_url": settings.IDP_URL,
            "links": settings.CLIENT_LINKS,
        },
    )
