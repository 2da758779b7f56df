"""App configuration: wires up checks and signal receivers, nothing else."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdpLogoutConfig(AppConfig):
    name = "django_idp_logout"
    verbose_name = _("Identity provider logout")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, checks_sessions, receivers  # noqa: F401  (register the system checks and receivers)

        receivers.connect_client_origin_receivers()
