# The "project that already has DOT" before the guide: DOT's URLs under /o/.
from django.urls import include

urlpatterns += [path("o/", include("oauth2_provider.urls", namespace="oauth2_provider"))]
