"""DOT's discovery document, advertising our end session endpoint and check_session_iframe.

DOT's ``ConnectDiscoveryInfoView`` has no hook for extra metadata, so this subclass rewrites its JSON.
It keeps DOT's URL name and path (``oauth2_provider:oidc-connect-discovery-info``): DOT derives the
issuer by reversing it.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.http import JsonResponse
from django.urls import reverse
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import ConnectDiscoveryInfoView

from ..conf import app_settings


def absolute_endpoint(request, path: str) -> str:
    """An absolute URL on the issuer's host (as DOT builds its own endpoints)."""
    if oauth2_settings.OIDC_ISS_ENDPOINT:
        parts = urlsplit(oauth2_settings.OIDC_ISS_ENDPOINT)
        return f"{parts.scheme}://{parts.netloc}{path}"
    return request.build_absolute_uri(path)


class IdpLogoutDiscoveryView(ConnectDiscoveryInfoView):
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if response.status_code != 200:
            return response
        data = json.loads(response.content)
        data.update(self.logout_metadata(request))
        ours = JsonResponse(data)
        for header in ("Access-Control-Allow-Origin",):
            if header in response:
                ours[header] = response[header]
        return ours

    def logout_metadata(self, request) -> dict:
        metadata = {
            "frontchannel_logout_supported": True,
            "frontchannel_logout_session_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
        }
        if oauth2_settings.OIDC_RP_INITIATED_LOGOUT_ENABLED:
            metadata["end_session_endpoint"] = absolute_endpoint(request, reverse("idp_logout:end_session"))
        if app_settings.CHECK_SESSION_IFRAME_ENABLED:  # OpenID Connect Session Management 1.0
            metadata["check_session_iframe"] = absolute_endpoint(
                request, reverse("idp_logout:check_session_iframe")
            )
        return metadata
