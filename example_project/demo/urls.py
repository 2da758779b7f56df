from django.urls import path

from . import views

app_name = "demo_client"

urlpatterns = [
    path("", views.client_home, name="home"),
    path("login/", views.client_login, name="login"),
    path("callback/", views.client_callback, name="callback"),
    path("signed-out/", views.client_signed_out, name="signed_out"),
]
