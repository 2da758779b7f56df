"""DOT's URL patterns with its logout, discovery, registration and device-flow views replaced by ours.

Include this instead of ``oauth2_provider.urls``: ``path("o/", include("django_idp_logout.oauth.urls"))``.
The namespace and every URL name stay DOT's, so ``reverse("oauth2_provider:...")`` keeps working and
the issuer DOT derives from the discovery URL does not move.
"""

from django.urls import path, re_path
from oauth2_provider import urls as dot_urls

from ..views import EndSessionView
from .device import IdpLogoutDeviceAuthorizationView, IdpLogoutDeviceConfirmView, IdpLogoutTokenView
from .discovery import IdpLogoutDiscoveryView
from .registration import IdpLogoutRegistrationManagementView, IdpLogoutRegistrationView

app_name = "oauth2_provider"

_REPLACEMENTS = {
    "rp-initiated-logout": lambda: path("logout/", EndSessionView.as_view(), name="rp-initiated-logout"),
    "oidc-connect-discovery-info": lambda: re_path(
        r"^\.well-known/openid-configuration/?$",
        IdpLogoutDiscoveryView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    "token": lambda: path("token/", IdpLogoutTokenView.as_view(), name="token"),
    "device-authorization": lambda: path(
        "device-authorization/", IdpLogoutDeviceAuthorizationView.as_view(), name="device-authorization"
    ),
    "device-confirm": lambda: path(
        "device-confirm/<slug:client_id>/<slug:user_code>",
        IdpLogoutDeviceConfirmView.as_view(),
        name="device-confirm",
    ),
    "dcr-register": lambda: path("register/", IdpLogoutRegistrationView.as_view(), name="dcr-register"),
    "dcr-register-management": lambda: path(
        "register/<str:client_id>/",
        IdpLogoutRegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
}

urlpatterns = [
    _REPLACEMENTS[pattern.name]() if pattern.name in _REPLACEMENTS else pattern
    for pattern in dot_urls.urlpatterns
]
