from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon),
    # mozilla-django-oidc: /oidc/authenticate/, /oidc/callback/, /oidc/logout/ (POST).
    path("oidc/", include("mozilla_django_oidc.urls")),
    # The kit's receivers, registered at the identity provider by `manage.py demo_setup`:
    # /oidc-logout/backchannel-logout/ and /oidc-logout/frontchannel-logout/.
    path("oidc-logout/", include("django_idp_logout.rp.urls")),
]
