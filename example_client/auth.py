"""The example client's authentication backend: mozilla-django-oidc's, keyed on the OP's ``sub``.

mozilla-django-oidc matches and creates users by e-mail address by default. An OP's ``sub`` is the stable
identifier of a user, so this backend keeps one local user per ``sub`` (username ``idp-<sub>``) and
shows the OP's ``preferred_username`` (scope ``profile``) when the OP sends one.
"""

from mozilla_django_oidc.auth import OIDCAuthenticationBackend


class ExampleClientBackend(OIDCAuthenticationBackend):
    def verify_claims(self, claims):
        return bool(claims.get("sub"))

    def get_username(self, claims):
        return f"idp-{claims['sub']}"

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=self.get_username(claims))

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(self.get_username(claims), email=claims.get("email", ""))
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        display_name = str(claims.get("preferred_username") or "")[:150]
        if user.first_name != display_name:
            user.first_name = display_name
            user.save(update_fields=["first_name"])
        return user
