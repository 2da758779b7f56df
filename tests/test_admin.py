"""Admin: the "Logout" inline on DOT's Application page and the UserSession changelist with its action."""

import html
import re
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.forms import CheckboxInput
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_idp_logout.models import ClientLogoutSettings, EndReason, UserSession
from tests.test_sessions import coordinate, live_tokens, refresh, session_of

pytestmark = pytest.mark.django_db

INLINE_FIELD = "coordinate_lifetime_with_user_session"
CHANGELIST = "admin:django_idp_logout_usersession_changelist"


# --- helpers ----------------------------------------------------------------------------------------


def form_post_data(form) -> dict:
    """What a browser would submit for ``form`` as rendered (unbound: its initial values)."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(field.widget, CheckboxInput):
            if value:
                data[key] = "on"
        elif value is None:
            continue
        elif isinstance(value, list | tuple):
            data[key] = [str(v) for v in value]
        else:
            data[key] = str(value)
    return data


def application_change_url(application):
    return reverse(
        f"admin:{application._meta.app_label}_{application._meta.model_name}_change", args=[application.pk]
    )


def logout_inline(response):
    """The inline formset holding ClientLogoutSettings on the Application change page."""
    formsets = [
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is ClientLogoutSettings
    ]
    assert len(formsets) == 1, "the Logout inline is missing from the Application page"
    return formsets[0]


def change_form_post(response, inline_value) -> dict:
    """The full POST of the Application change form, with the Logout inline's select set."""
    data = form_post_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(form_post_data(formset.management_form))
        for form in formset.forms:
            data.update(form_post_data(form))
    formset = logout_inline(response)
    data[f"{formset.prefix}-0-{INLINE_FIELD}"] = inline_value
    data["_save"] = "Save"
    return data


def save_inline(admin_client, application, inline_value):
    page = admin_client.get(application_change_url(application))
    assert page.status_code == HTTPStatus.OK
    response = admin_client.post(application_change_url(application), change_form_post(page, inline_value))
    assert response.status_code == HTTPStatus.FOUND, _form_errors(response)
    return response


def _form_errors(response):
    if response.context is None:
        return response.content[:500]
    errors = [response.context["adminform"].form.errors]
    errors += [inline.formset.errors for inline in response.context["inline_admin_formsets"]]
    return errors


def own_setting(application):
    return (
        ClientLogoutSettings.objects.filter(application=application)
        .values_list(INLINE_FIELD, flat=True)
        .first()
    )


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def changelist_rows(response) -> dict[int, dict[str, str]]:
    """{UserSession pk: {column name: cell text}} as rendered in the changelist table."""
    content = response.content.decode()
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", content, flags=re.S):
        pk = re.search(r'name="_selected_action" value="(\d+)"', row)
        if pk is None:
            continue
        cells = re.findall(r'<t[dh] class="field-(\w+)[^"]*"[^>]*>(.*?)</t[dh]>', row, flags=re.S)
        rows[int(pk.group(1))] = {name: text(cell) for name, cell in cells}
    return rows


def action_choices(response) -> list[str]:
    action_form = response.context.get("action_form")
    if action_form is None:
        return []
    return [value for value, _label in action_form.fields["action"].choices if value]


def end_action(browser, *sessions, follow=False):
    return browser.post(
        reverse(CHANGELIST),
        {"action": "end_selected_sessions", "_selected_action": [s.pk for s in sessions]},
        follow=follow,
    )


@pytest.fixture
def coordinated(settings):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}


@pytest.fixture
def staff_factory(django_user_model):
    def make(username, *codenames):
        staff = django_user_model.objects.create_user(username, password="x", is_staff=True)
        staff.user_permissions.set(
            Permission.objects.filter(content_type__app_label="django_idp_logout", codename__in=codenames)
        )
        browser = Client()
        browser.force_login(staff)
        return browser

    return make


# --- the Logout inline on DOT's Application page -------------------------------------------------------


# Unset, the global default follows DOT's OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS (True by default).
@pytest.mark.parametrize(("global_default", "shown"), [(None, "yes"), (False, "no"), (True, "yes")])
def test_application_page_shows_logout_inline_with_current_global_default(
    admin_client, application, settings, global_default, shown
):
    if global_default is not None:
        settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": global_default}
    response = admin_client.get(application_change_url(application))
    assert response.status_code == HTTPStatus.OK
    content = response.content.decode()
    formset = logout_inline(response)
    select = formset.forms[0][INLINE_FIELD]
    assert [(str(value), str(label)) for value, label in select.field.choices] == [
        ("", f"Inherit the global setting (currently: {shown})"),
        ("True", "Yes"),
        ("False", "No"),
    ]
    assert f'name="{formset.prefix}-0-{INLINE_FIELD}"' in content
    assert f"Inherit the global setting (currently: {shown})" in content
    other = "yes" if shown == "no" else "no"
    assert f"(currently: {other})" not in content


def test_application_page_heads_the_inline_logout(admin_client, application):
    response = admin_client.get(application_change_url(application))
    prefix = logout_inline(response).prefix
    content = response.content.decode()
    # The inline's own group (`<div id="<prefix>-group">`) opens with its heading; Django 5.0+ also gives
    # the <h2> an id for aria-labelledby, 4.2 does not, so locate it by the group rather than the id.
    group = content.index(f'id="{prefix}-group"')
    heading = re.compile(r"<h2\b[^>]*>(.*?)</h2>", flags=re.S).search(content, group)
    assert heading is not None
    assert text(heading.group(1)) == "Logout"


def test_inline_label_follows_a_settings_change_between_requests(admin_client, application, settings):
    url = application_change_url(application)
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": False}
    assert "(currently: no)" in admin_client.get(url).content.decode()
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    assert "(currently: yes)" in admin_client.get(url).content.decode()
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": False}
    assert "(currently: no)" in admin_client.get(url).content.decode()
    # Unset, it follows DOT's OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS (True unless turned off).
    settings.IDP_LOGOUT = {}
    assert "(currently: yes)" in admin_client.get(url).content.decode()
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False}
    assert "(currently: no)" in admin_client.get(url).content.decode()


def test_saving_the_application_form_with_inherit_creates_no_override(admin_client, application):
    save_inline(admin_client, application, "")
    assert own_setting(application) is None


@pytest.mark.parametrize(("posted", "stored"), [("True", True), ("False", False)])
def test_saving_the_application_form_stores_the_inline_choice(admin_client, application, posted, stored):
    save_inline(admin_client, application, posted)
    assert ClientLogoutSettings.objects.get(
        application=application
    ).coordinate_lifetime_with_user_session is (stored)
    page = admin_client.get(application_change_url(application))
    assert logout_inline(page).forms[0][INLINE_FIELD].value() is stored


def test_setting_back_to_inherit_stores_none(admin_client, application):
    save_inline(admin_client, application, "True")
    assert own_setting(application) is True
    save_inline(admin_client, application, "")
    assert ClientLogoutSettings.objects.filter(application=application).count() == 1
    assert (
        ClientLogoutSettings.objects.get(application=application).coordinate_lifetime_with_user_session
        is None
    )


def test_saving_the_inline_keeps_the_application_fields(admin_client, application):
    before = {f: getattr(application, f) for f in ("name", "client_id", "redirect_uris", "algorithm")}
    save_inline(admin_client, application, "True")
    application.refresh_from_db()
    assert {f: getattr(application, f) for f in before} == before


def test_yes_saved_in_the_admin_makes_logout_revoke_the_clients_tokens(
    admin_client, user, application_factory, oidc_login, settings
):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": False}  # "other" inherits: not revoked
    chosen, other = application_factory(), application_factory()
    save_inline(admin_client, chosen, "True")
    browser = Client()
    tokens = oidc_login(user, chosen, browser=browser)
    oidc_login(user, other, browser=browser)
    browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert live_tokens(chosen) == (0, 0, 0)
    assert live_tokens(other) == (1, 1, 1)
    assert refresh(Client(), chosen, tokens["refresh_token"]).status_code == HTTPStatus.BAD_REQUEST


# --- UserSession changelist ---------------------------------------------------------------------------


@pytest.fixture
def sessions(user, other_user, application_factory, oidc_login):
    """alice: a laptop session with two clients (one of them twice) and a phone session with one;
    mallory: one session with the second client; plus an ended session of alice's without tokens."""
    portal, reports = application_factory(name="Portal"), application_factory(name="Reports")
    laptop, phone, mallory = Client(), Client(), Client()
    oidc_login(user, portal, browser=laptop)
    oidc_login(user, portal, browser=laptop)
    oidc_login(user, reports, browser=laptop)
    oidc_login(user, portal, browser=phone)
    oidc_login(other_user, reports, browser=mallory)
    old = UserSession.objects.create(user=user)
    UserSession.objects.filter(pk=old.pk).update(ended_at=timezone.now(), end_reason=EndReason.USER_LOGOUT)
    return {
        "portal": portal,
        "reports": reports,
        "laptop": session_of(laptop),
        "phone": session_of(phone),
        "mallory": session_of(mallory),
        "old": UserSession.objects.get(pk=old.pk),
        "browsers": {"laptop": laptop, "phone": phone, "mallory": mallory},
    }


def listed(response) -> set[int]:
    assert response.status_code == HTTPStatus.OK
    return {s.pk for s in response.context["cl"].result_list}


def test_changelist_lists_sessions_with_client_and_token_counts(admin_client, sessions):
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == HTTPStatus.OK
    rows = changelist_rows(response)
    # the admin's own login through admin_client also started a session: only ours are checked
    ours = {sessions[k].pk for k in ("laptop", "phone", "mallory", "old")}
    assert ours <= set(rows)
    # laptop: 2 clients; portal twice (2 access + 2 refresh + 2 ID tokens), reports once (3 tokens)
    assert (rows[sessions["laptop"].pk]["client_count"], rows[sessions["laptop"].pk]["token_count"]) == (
        "2",
        "9",
    )
    assert (rows[sessions["phone"].pk]["client_count"], rows[sessions["phone"].pk]["token_count"]) == (
        "1",
        "3",
    )
    assert (rows[sessions["mallory"].pk]["client_count"], rows[sessions["mallory"].pk]["token_count"]) == (
        "1",
        "3",
    )
    assert (rows[sessions["old"].pk]["client_count"], rows[sessions["old"].pk]["token_count"]) == ("0", "0")
    assert rows[sessions["laptop"].pk]["user_name"] == "alice"
    assert rows[sessions["mallory"].pk]["user_name"] == "mallory"
    assert rows[sessions["laptop"].pk]["sid_short"].startswith(sessions["laptop"].sid[:8])
    assert sessions["laptop"].sid not in response.content.decode(), "the changelist shows the full sid"


def test_changelist_sorts_by_token_count(admin_client, sessions):
    # "o" indexes the columns counting the action checkbox: 7 is token_count, "-7" sorts descending
    response = admin_client.get(reverse(CHANGELIST), {"o": "-7"})
    assert response.context["cl"].result_list[0].pk == sessions["laptop"].pk


def test_search_by_username_finds_only_that_users_sessions(admin_client, sessions):
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": "alice"})) == {
        sessions["laptop"].pk,
        sessions["phone"].pk,
        sessions["old"].pk,
    }
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": "mallory"})) == {sessions["mallory"].pk}
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": "nobody-by-that-name"})) == set()


def test_search_by_sid(admin_client, sessions):
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": sessions["phone"].sid})) == {
        sessions["phone"].pk
    }


def test_filter_by_state(admin_client, sessions):
    ended = listed(admin_client.get(reverse(CHANGELIST), {"state": "ended"}))
    active = listed(admin_client.get(reverse(CHANGELIST), {"state": "active"}))
    assert ended == {sessions["old"].pk}
    assert {sessions[k].pk for k in ("laptop", "phone", "mallory")} <= active
    assert sessions["old"].pk not in active
    assert active == set(UserSession.objects.filter(ended_at__isnull=True).values_list("pk", flat=True))


def test_filter_by_client(admin_client, sessions):
    response = admin_client.get(reverse(CHANGELIST), {"client": sessions["portal"].client_id})
    assert listed(response) == {sessions["laptop"].pk, sessions["phone"].pk}
    # the filter selects sessions; the counts still cover all of a session's clients and tokens
    rows = changelist_rows(response)
    assert (rows[sessions["laptop"].pk]["client_count"], rows[sessions["laptop"].pk]["token_count"]) == (
        "2",
        "9",
    )
    assert listed(admin_client.get(reverse(CHANGELIST), {"client": sessions["reports"].client_id})) == {
        sessions["laptop"].pk,
        sessions["mallory"].pk,
    }


def test_filters_combine_with_search(admin_client, sessions):
    response = admin_client.get(
        reverse(CHANGELIST), {"client": sessions["reports"].client_id, "q": "mallory", "state": "active"}
    )
    assert listed(response) == {sessions["mallory"].pk}


def test_client_filter_offers_the_clients(admin_client, sessions):
    content = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert f"?client={sessions['portal'].client_id}" in content
    assert ">Portal<" in content and ">Reports<" in content


def test_session_change_page_renders_read_only(admin_client, sessions):
    laptop = sessions["laptop"]
    url = reverse("admin:django_idp_logout_usersession_change", args=[laptop.pk])
    response = admin_client.get(url)
    assert response.status_code == HTTPStatus.OK
    content = response.content.decode()
    assert laptop.sid in content
    assert sessions["portal"].client_id in content and sessions["reports"].client_id in content
    assert not response.context["adminform"].form.fields, "the session page has editable fields"
    assert 'name="sid"' not in content and 'name="ended_at' not in content and 'name="user"' not in content
    # a crafted POST changes nothing
    admin_client.post(
        url,
        {
            "sid": "forged",
            "user": sessions["mallory"].user.pk,
            "end_reason": "terminated",
            "ended_at_0": "2020-01-01",
        },
    )
    reloaded = UserSession.objects.get(pk=laptop.pk)
    assert (reloaded.sid, reloaded.user_id, reloaded.ended_at, reloaded.end_reason) == (
        laptop.sid,
        laptop.user_id,
        None,
        "",
    )


def test_sessions_cannot_be_added(admin_client, sessions):
    assert admin_client.get(reverse("admin:django_idp_logout_usersession_add")).status_code == (
        HTTPStatus.FORBIDDEN
    )
    count = UserSession.objects.count()
    admin_client.post(reverse("admin:django_idp_logout_usersession_add"), {})
    assert UserSession.objects.count() == count
    response = admin_client.get(reverse(CHANGELIST))
    assert response.context["has_add_permission"] is False
    assert reverse("admin:django_idp_logout_usersession_add") not in response.content.decode()


# --- the "end selected sessions" action -----------------------------------------------------------------


def test_action_ends_only_the_active_selected_sessions_and_revokes(admin_client, sessions, coordinated):
    laptop, phone, mallory, old = (sessions[k] for k in ("laptop", "phone", "mallory", "old"))
    response = end_action(admin_client, laptop, mallory, old, follow=True)
    assert response.status_code == HTTPStatus.OK
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["2 sessions ended."]
    assert "2 sessions ended." in response.content.decode()

    for selected in (laptop, mallory):
        selected.refresh_from_db()
        assert selected.ended_at is not None and selected.end_reason == EndReason.TERMINATED
        assert live_tokens(sessions["portal"], selected) == (0, 0, 0)
        assert live_tokens(sessions["reports"], selected) == (0, 0, 0)
    before = (old.ended_at, old.end_reason)
    old.refresh_from_db()
    assert (old.ended_at, old.end_reason) == before  # already ended: left as it was
    phone.refresh_from_db()
    assert phone.ended_at is None
    assert live_tokens(sessions["portal"], phone) == (1, 1, 1)

    browsers = sessions["browsers"]
    browsers["laptop"].get("/")
    browsers["phone"].get("/")
    assert "_auth_user_id" not in browsers["laptop"].session
    assert "_auth_user_id" in browsers["phone"].session


def test_action_message_singular_and_zero(admin_client, sessions):
    response = end_action(admin_client, sessions["phone"], follow=True)
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["1 session ended."]
    response = end_action(admin_client, sessions["phone"], sessions["old"], follow=True)
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["0 sessions ended."]


def test_action_keeps_tokens_of_uncoordinated_clients(admin_client, sessions, coordinated):
    coordinate(sessions["reports"], False)
    laptop = sessions["laptop"]
    end_action(admin_client, laptop)
    assert live_tokens(sessions["portal"], laptop) == (0, 0, 0)
    assert live_tokens(sessions["reports"], laptop) == (1, 1, 1)


def test_action_offered_to_superuser_and_staff_with_change_permission(admin_client, sessions, staff_factory):
    assert "end_selected_sessions" in action_choices(admin_client.get(reverse(CHANGELIST)))
    editor = staff_factory("editor", "view_usersession", "change_usersession")
    assert "end_selected_sessions" in action_choices(editor.get(reverse(CHANGELIST)))
    end_action(editor, sessions["phone"])
    sessions["phone"].refresh_from_db()
    assert sessions["phone"].end_reason == EndReason.TERMINATED


def test_staff_without_change_permission_does_not_get_the_action(sessions, staff_factory, coordinated):
    viewer = staff_factory("viewer", "view_usersession")
    response = viewer.get(reverse(CHANGELIST))
    assert response.status_code == HTTPStatus.OK
    assert {sessions["laptop"].pk, sessions["phone"].pk} <= listed(response)
    assert "end_selected_sessions" not in action_choices(response)
    assert "End selected sessions" not in response.content.decode()

    end_action(viewer, sessions["laptop"], sessions["phone"], follow=True)
    for name in ("laptop", "phone"):
        sessions[name].refresh_from_db()
        assert sessions[name].ended_at is None
    assert live_tokens(sessions["portal"], sessions["laptop"]) == (2, 2, 2)


def test_sessions_cannot_be_deleted_from_the_admin(admin_client, user):
    """Deleting would bypass end_session (no revocation, no notification, bindings lost)."""
    from django.urls import reverse as url

    from django_idp_logout.models import UserSession

    user_session = UserSession.objects.create(user=user)
    changelist = url("admin:django_idp_logout_usersession_changelist")
    assert b"delete_selected" not in admin_client.get(changelist).content
    admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [user_session.pk], "post": "yes"}
    )
    assert (
        admin_client.get(
            url("admin:django_idp_logout_usersession_delete", args=[user_session.pk])
        ).status_code
        == 403
    )
    assert UserSession.objects.filter(pk=user_session.pk).exists()


def test_a_user_with_sessions_can_still_be_deleted_in_the_admin(admin_client, user):
    """The admin checks the delete permission of every row a delete cascades to: sessions must not make
    their user undeletable, even though a session alone cannot be deleted."""
    from django.urls import reverse as url

    from django_idp_logout.models import UserSession

    UserSession.objects.create(user=user)
    delete = url(f"admin:{user._meta.app_label}_{user._meta.model_name}_delete", args=[user.pk])
    assert admin_client.get(delete).context["perms_lacking"] == set()
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not UserSession.objects.filter(user_id=user.pk).exists()
