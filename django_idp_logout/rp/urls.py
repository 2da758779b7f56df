"""URLs of the client-site kit: ``include("django_idp_logout.rp.urls")`` (namespace ``idp_logout_rp``).

Register their absolute URLs at the OP as the client's ``backchannel_logout_uri`` and
``frontchannel_logout_uri``.
"""

from django.urls import path

from . import views

app_name = "idp_logout_rp"

urlpatterns = [
    path("backchannel-logout/", views.BackChannelLogoutView.as_view(), name="backchannel_logout"),
    path("frontchannel-logout/", views.FrontChannelLogoutView.as_view(), name="frontchannel_logout"),
]
