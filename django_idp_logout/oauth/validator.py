"""DOT validator mixin: silent re-authentication (``prompt=none``) done right.

DOT 3.4.1 does not implement oauthlib's ``validate_silent_login`` / ``validate_silent_authorization``,
so every ``prompt=none`` request of a signed-in user ends in a 500. Clients build their session checks
on silent re-authentication, and the logout flow must be observable through it ("after logout,
``prompt=none`` answers ``login_required``"), so the validator this app ships implements both.
"""

from __future__ import annotations

from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings

from .backend import current_django_request


class IdpLogoutValidatorMixin:
    """Compose into a project's own ``OAuth2Validator`` subclass (before it in the bases)."""

    def validate_silent_login(self, request) -> bool:
        """The browser is signed in. DOT's ``AuthorizationView`` only reaches the validator for a
        signed-in user (anonymous ``prompt=none`` gets ``login_required`` before), so this checks the
        request the backend saw."""
        django_request = current_django_request()
        return bool(django_request is not None and django_request.user.is_authenticated)

    def validate_silent_authorization(self, request) -> bool:
        """Consent is not needed, by the same rule DOT's ``AuthorizationView`` applies next: the client
        skips it, or ``approval_prompt`` is "auto" and the user holds a live token of this client
        covering the requested scopes. Otherwise the answer is ``consent_required``, never a form."""
        client = getattr(request, "client", None)
        if client is None:
            return False
        if client.skip_authorization:
            return True
        django_request = current_django_request()
        if django_request is None or not django_request.user.is_authenticated:
            return False
        approval_prompt = django_request.GET.get("approval_prompt", oauth2_settings.REQUEST_APPROVAL_PROMPT)
        if approval_prompt != "auto":
            return False
        tokens = get_access_token_model().objects.filter(
            user=django_request.user, application=client, expires__gt=timezone.now()
        )
        return any(token.allow_scopes(request.scopes) for token in tokens)


class IdpLogoutOAuth2Validator(IdpLogoutValidatorMixin, OAuth2Validator):
    """Ready-made validator: ``OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"]`` points here."""
