"""URLconf of the client site the kit's tests run: mozilla-django-oidc's views, the kit's receivers and
two tiny pages to look at the session from the browser's side."""

from django.contrib.auth import login
from django.http import HttpResponse, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


def whoami(request):
    return JsonResponse({"user": request.user.get_username() if request.user.is_authenticated else None})


def notice(request):
    from django_idp_logout.rp.notice import signed_out_by_provider

    return JsonResponse({"signed_out_by_provider": signed_out_by_provider(request)})


def public(request):
    return HttpResponse("a page that never looks at the session")


def cycle_session_key(request):
    request.session.cycle_key()
    return JsonResponse({"session_key": request.session.session_key})


def relogin(request):
    login(request, request.user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse({"user": request.user.get_username()})


urlpatterns = [
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("rp/", include("django_idp_logout.rp.urls")),
    path("whoami/", whoami, name="whoami"),
    path("public/", public, name="public"),
    path("notice/", notice, name="notice"),
    path("cycle/", cycle_session_key, name="cycle"),
    path("relogin/", csrf_exempt(relogin), name="relogin"),
]
