"""Client-site kit: OpenID Connect logout for sites that sign in with mozilla-django-oidc.

Imports nothing at package import time beyond the standard library, so settings can name
``"django_idp_logout.rp.provider_logout_url"`` before the app registry is ready.
"""


def provider_logout_url(request) -> str:
    """mozilla-django-oidc's ``OIDC_OP_LOGOUT_URL_METHOD``: the OP's end session URL for this session.

    See ``django_idp_logout.rp.logout_url.provider_logout_url``.
    """
    from .logout_url import provider_logout_url as build

    return build(request)
