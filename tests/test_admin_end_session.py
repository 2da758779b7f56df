"""The admin's "End this session" button (on a session's page and in the user's page inline), from the
operator's side and the attacker's: POST only, CSRF, permissions, foreign or unknown ids, open redirects."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import quote

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from django_idp_logout.models import BackchannelNotification, EndReason, UserSession
from tests.test_admin import coordinated, sessions, staff_factory  # noqa: F401  (fixtures)
from tests.test_sessions import live_tokens

pytestmark = pytest.mark.django_db


def end_url(user_session, **query) -> str:
    url = reverse("admin:django_idp_logout_usersession_end", args=[user_session.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def change_url(user_session) -> str:
    return reverse("admin:django_idp_logout_usersession_change", args=[user_session.pk])


def user_change_url(user) -> str:
    return reverse("admin:auth_user_change", args=[user.pk])


def test_session_page_has_no_save_buttons_and_one_end_button(admin_client, sessions):  # noqa: F811
    content = admin_client.get(change_url(sessions["laptop"])).content.decode()
    assert 'name="_save"' not in content and 'name="_continue"' not in content
    assert 'name="_addanother"' not in content
    assert f'action="{end_url(sessions["laptop"])}"' in content
    assert 'id="end-session"' in content
    # An ended session has nothing to end.
    assert 'id="end-session"' not in admin_client.get(change_url(sessions["old"])).content.decode()


def test_forged_post_to_the_session_page_is_refused(admin_client, sessions):  # noqa: F811
    response = admin_client.post(change_url(sessions["laptop"]), {"end_reason": "terminated"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    sessions["laptop"].refresh_from_db()
    assert sessions["laptop"].ended_at is None


def test_end_button_ends_through_end_session_revokes_and_notifies(
    admin_client,
    sessions,  # noqa: F811
    coordinated,  # noqa: F811
    logout_settings_factory,
    django_capture_on_commit_callbacks,
):
    from django_idp_logout import signals

    laptop = sessions["laptop"]
    logout_settings_factory(sessions["portal"], backchannel_logout_uri="https://portal.example.com/bc")
    ended = []

    def receiver(sender, user_session, reason, **kwargs):
        ended.append((user_session.pk, reason))

    signals.session_ended.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False):
            response = admin_client.post(end_url(laptop), follow=True)
    finally:
        signals.session_ended.disconnect(receiver)
    assert response.redirect_chain[-1][0] == change_url(laptop)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "The session of alice was ended: its tokens are revoked and its clients notified."
    ]
    laptop.refresh_from_db()
    assert laptop.end_reason == EndReason.TERMINATED and laptop.ended_at is not None
    assert live_tokens(sessions["portal"], laptop) == (0, 0, 0)
    assert live_tokens(sessions["reports"], laptop) == (0, 0, 0)
    assert (
        BackchannelNotification.objects.filter(user_session=laptop, reason=EndReason.TERMINATED).count() == 1
    )
    assert LogEntry.objects.filter(object_id=str(laptop.pk)).count() == 1
    # The phone session and the other user are untouched; the laptop browser is signed out.
    sessions["phone"].refresh_from_db()
    assert sessions["phone"].ended_at is None
    sessions["browsers"]["laptop"].get("/")
    assert "_auth_user_id" not in sessions["browsers"]["laptop"].session
    assert ended == []  # signals are sent after commit (not executed here)


def test_ending_twice_says_so_and_changes_nothing(admin_client, sessions):  # noqa: F811
    old = sessions["old"]
    before = (old.ended_at, old.end_reason)
    response = admin_client.post(end_url(old), follow=True)
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["This session had already ended."]
    old.refresh_from_db()
    assert (old.ended_at, old.end_reason) == before


def test_get_never_ends_a_session(admin_client, sessions):  # noqa: F811
    assert admin_client.get(end_url(sessions["laptop"])).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    sessions["laptop"].refresh_from_db()
    assert sessions["laptop"].ended_at is None


def test_post_without_csrf_token_is_refused(django_user_model, sessions):  # noqa: F811
    operator = django_user_model.objects.create_superuser("op", "op@example.com", "x")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    assert browser.post(end_url(sessions["laptop"])).status_code == HTTPStatus.FORBIDDEN
    sessions["laptop"].refresh_from_db()
    assert sessions["laptop"].ended_at is None


def test_staff_without_change_permission_cannot_end(sessions, staff_factory):  # noqa: F811
    viewer = staff_factory("viewer", "view_usersession")
    page = viewer.get(change_url(sessions["laptop"])).content.decode()
    assert 'id="end-session"' not in page
    assert viewer.post(end_url(sessions["laptop"])).status_code == HTTPStatus.FORBIDDEN
    sessions["laptop"].refresh_from_db()
    assert sessions["laptop"].ended_at is None


def test_anonymous_and_non_staff_are_sent_to_the_admin_login(client, user, sessions):  # noqa: F811
    response = client.post(end_url(sessions["laptop"]))
    assert response.status_code == HTTPStatus.FOUND and "/admin/login/" in response["Location"]
    client.force_login(user)  # alice herself, not staff
    response = client.post(end_url(sessions["phone"]))
    assert response.status_code == HTTPStatus.FOUND and "/admin/login/" in response["Location"]
    assert (
        UserSession.objects.filter(pk__in=[sessions["laptop"].pk, sessions["phone"].pk]).active().count() == 2
    )


@pytest.mark.parametrize("object_id", ["999999", "abc", "%00", "1%20OR%201=1"])
def test_unknown_or_malformed_ids_are_a_404_not_a_500(admin_client, sessions, object_id):  # noqa: F811
    url = reverse("admin:django_idp_logout_usersession_changelist") + f"{object_id}/end/"
    response = admin_client.post(url)
    assert response.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.FOUND)  # the admin may redirect
    assert UserSession.objects.active().count() == 4  # alice 2, mallory 1, the admin's own 1


@pytest.mark.parametrize("spelling", [" {pk}", "{pk} ", "0{pk}", "+{pk}", "{pk}_"])
def test_only_the_exact_id_ends_a_session(admin_client, sessions, spelling):  # noqa: F811
    """int() reads these as the id; the admin's own look-up accepts them, the end URL does not."""
    laptop = sessions["laptop"]
    url = (
        reverse("admin:django_idp_logout_usersession_changelist")
        + quote(spelling.format(pk=laptop.pk))
        + "/end/"
    )
    assert admin_client.post(url).status_code == HTTPStatus.NOT_FOUND
    laptop.refresh_from_db()
    assert laptop.ended_at is None


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example.com/", "//evil.example.com/", "javascript:alert(1)", "/\\evil.example.com"],
)
def test_next_goes_nowhere_but_this_site(admin_client, sessions, next_url):  # noqa: F811
    from urllib.parse import quote

    response = admin_client.post(end_url(sessions["phone"], next=quote(next_url, safe="")))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == change_url(sessions["phone"])


def test_users_page_lists_active_sessions_with_end_buttons(admin_client, sessions, user):  # noqa: F811
    content = admin_client.get(user_change_url(user)).content.decode()
    for name in ("laptop", "phone"):
        assert f'formaction="{end_url(sessions[name])}?next=' in content
    assert end_url(sessions["old"]) not in content  # ended: not listed
    assert end_url(sessions["mallory"]) not in content  # another user's
    assert "Portal" in content and "Reports" in content  # client names


def test_end_from_the_users_page_returns_there_and_saves_nothing_of_the_user(
    admin_client,
    sessions,  # noqa: F811
    user,
):
    page = admin_client.get(user_change_url(user))
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields if name not in ("password",)}
    data.update(username="renamed-by-accident")
    url = f"{end_url(sessions['phone'])}?next={user_change_url(user)}"
    response = admin_client.post(url, data)
    assert response.status_code == HTTPStatus.FOUND and response["Location"] == user_change_url(user)
    user.refresh_from_db()
    assert user.username == "alice"
    sessions["phone"].refresh_from_db()
    assert sessions["phone"].end_reason == EndReason.TERMINATED


def test_users_page_without_change_permission_shows_no_end_button(
    sessions,  # noqa: F811
    staff_factory,  # noqa: F811
    user,
):
    from django.contrib.auth.models import Permission

    browser = staff_factory("helpdesk", "view_usersession")
    helpdesk = type(user).objects.get(username="helpdesk")
    helpdesk.user_permissions.add(Permission.objects.get(codename="view_user"))
    content = browser.get(user_change_url(user)).content.decode()
    assert sessions["laptop"].sid[:8] in content  # listed
    assert "formaction=" not in content
