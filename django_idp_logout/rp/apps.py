"""App configuration of the client-site kit: wires up checks and signal receivers, nothing else."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdpLogoutRPConfig(AppConfig):
    name = "django_idp_logout.rp"
    label = "idp_logout_rp"
    verbose_name = _("OpenID Connect logout (client site)")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (register the system checks and receivers)
