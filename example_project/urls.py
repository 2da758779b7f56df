from django.contrib import admin
from django.urls import include, path

from example_project.demo import views as demo

urlpatterns = [
    path("", demo.home, name="home"),
    path("favicon.ico", demo.favicon),
    path("demo-client/", include("example_project.demo.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # DOT under /o/, with its logout and discovery views replaced by ours.
    path("o/", include("django_idp_logout.oauth.urls")),
    path("", include("django_idp_logout.urls")),
]
