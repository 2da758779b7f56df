from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "django_idp_logout.metrics"
    label = "idp_logout_metrics"
    verbose_name = "django-idp-logout metrics"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from .collectors import install

        install(REGISTRY)
