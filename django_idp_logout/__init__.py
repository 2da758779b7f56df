"""django-idp-logout: complete, safe OpenID Connect logout for django-oauth-toolkit providers."""
