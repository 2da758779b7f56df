"""The example provider's validator: django-idp-logout's, plus the user's name and e-mail as claims.

DOT adds a claim only when the request has the scope ``oidc_claim_scope`` names for it (profile,
email), in the ID token and at userinfo alike.
"""

from django_idp_logout.oauth.validator import IdpLogoutOAuth2Validator


class ExampleValidator(IdpLogoutOAuth2Validator):
    def get_additional_claims(self, request):
        return {
            "preferred_username": request.user.get_username(),
            "email": request.user.email,
            "email_verified": bool(request.user.email),
        }
