"""A project's own subclasses of every swappable DOT model (what tests/settings_swapped.py installs)."""

from django.db import models
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractDeviceGrant,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)


class TenantApplication(AbstractApplication):
    tenant = models.CharField(max_length=32, blank=True, default="acme")


class TenantAccessToken(AbstractAccessToken):
    tenant = models.CharField(max_length=32, blank=True, default="acme")


class TenantRefreshToken(AbstractRefreshToken):
    tenant = models.CharField(max_length=32, blank=True, default="acme")


class TenantIDToken(AbstractIDToken):
    tenant = models.CharField(max_length=32, blank=True, default="acme")


class TenantGrant(AbstractGrant):
    tenant = models.CharField(max_length=32, blank=True, default="acme")


class TenantDeviceGrant(AbstractDeviceGrant):
    tenant = models.CharField(max_length=32, blank=True, default="acme")
