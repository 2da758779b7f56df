# At the end of urls.py. startproject's urls.py imports path but not include.
from django.urls import include

urlpatterns += [
    path("o/", include("django_idp_logout.oauth.urls")),  # DOT's URLs with our end session and discovery
    path("", include("django_idp_logout.urls")),  # /end-session/, /logout/, /logged-out/
]
