"""The example project's admin: the user's page shows their active sessions, each with "End this
session" (``django_idp_logout.admin.UserSessionInline``), on top of whatever user admin is registered."""

from django.contrib import admin
from django.contrib.auth import get_user_model

from django_idp_logout.admin import UserSessionInline

User = get_user_model()
_registered = admin.site._registry.get(User)
if _registered is not None:
    UserAdminBase = type(_registered)
    admin.site.unregister(User)

    @admin.register(User)
    class UserAdmin(UserAdminBase):
        inlines = [*getattr(UserAdminBase, "inlines", []), UserSessionInline]
