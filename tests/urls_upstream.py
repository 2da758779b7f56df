"""Our identity provider signing users in through an upstream one: the example project's URLs plus
mozilla-django-oidc's (``/oidc/authenticate/``, ``/oidc/callback/``). Used by tests/test_upstream_roundtrip.py."""

from django.urls import include, path

from example_project.urls import urlpatterns as idp_urlpatterns

urlpatterns = [path("oidc/", include("mozilla_django_oidc.urls")), *idp_urlpatterns]
