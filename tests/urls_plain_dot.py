"""A URLconf that includes DOT's own URLs and forgets ours: what the URL check must catch."""

from django.urls import include, path

urlpatterns = [path("o/", include("oauth2_provider.urls"))]
