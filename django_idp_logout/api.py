"""The stable Python API of django-idp-logout. Anything not re-exported here is private."""

from .services.context import InvalidLogoutId, LogoutRequest, get_logout_context

__all__ = ["InvalidLogoutId", "LogoutRequest", "get_logout_context"]
