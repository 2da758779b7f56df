"""URLs of the provider side: ``include("django_idp_logout.urls")`` (namespace ``idp_logout``)."""

from django.urls import path

from . import sessions_views, views

app_name = "idp_logout"

urlpatterns = [
    path("end-session/", views.EndSessionView.as_view(), name="end_session"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("logged-out/", views.LoggedOutView.as_view(), name="logged_out"),
    path("logged-out/status/", views.LogoutStatusView.as_view(), name="logout_status"),
    # OpenID Connect Session Management 1.0, advertised as check_session_iframe in discovery.
    path("check-session/", views.CheckSessionIframeView.as_view(), name="check_session_iframe"),
    # A user's own sessions: the page, the page of a login refused by the session limit, the JSON API.
    path("sessions/", sessions_views.SessionsView.as_view(), name="sessions"),
    path("sessions/limit/", sessions_views.SessionLimitView.as_view(), name="session_limit"),
    path("api/sessions/", sessions_views.SessionsApiView.as_view(), name="sessions_api"),
    path("api/sessions/<str:sid>/", sessions_views.SessionsApiView.as_view(), name="sessions_api_session"),
    # Called by the upstream provider we sign users in through (we are its relying party).
    path(
        "logout/upstream/backchannel/",
        views.UpstreamBackchannelLogoutView.as_view(),
        name="upstream_backchannel_logout",
    ),
    path(
        "logout/upstream/frontchannel/",
        views.UpstreamFrontchannelLogoutView.as_view(),
        name="upstream_frontchannel_logout",
    ),
    path(
        "logout/external/callback/",
        views.ExternalLogoutCallbackView.as_view(),
        name="external_logout_callback",
    ),
]
