"""Admin: sessions (list, search, end one or many), a user's sessions inline on the project's user page,
per-client logout options inline on DOT's Application page, the back-channel outbox (with the delivery
summary), and the per-client circuit breaker (see which clients are paused and why, resume them)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from oauth2_provider.models import get_application_model

from .conf import app_settings
from .models import BackchannelCircuit, BackchannelNotification, ClientLogoutSettings, EndReason, UserSession
from .services.outbox import close_circuits, dispatch, retry_now
from .services.sessions import end_session, end_sessions
from .services.status import delivery_status

#: The Application inline's URI fields: wide enough to show a whole URL (see static admin.css).
URI_INPUT_ATTRS = {"class": "vTextField idp-logout-uri", "spellcheck": "false"}


class ClientLogoutSettingsInline(admin.StackedInline):
    model = ClientLogoutSettings
    can_delete = False
    max_num = 1
    verbose_name = verbose_name_plural = _("Logout")

    class Media:
        css = {"all": ["django_idp_logout/admin.css"]}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("frontchannel_logout_uri", "backchannel_logout_uri"):
            field.widget.attrs.update(URI_INPUT_ATTRS)
        return field

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        field = formset.form.base_fields["coordinate_lifetime_with_user_session"]
        default = _("yes") if app_settings.COORDINATE_LIFETIME_WITH_USER_SESSION else _("no")
        field.choices = [
            ("", _("Inherit the global setting (currently: %(default)s)") % {"default": default}),
            (True, _("Yes")),
            (False, _("No")),
        ]
        return formset


Application = get_application_model()
_dot_admin = admin.site._registry.get(Application)
if _dot_admin is not None:
    ApplicationAdminBase = type(_dot_admin)
    admin.site.unregister(Application)

    @admin.register(Application)
    class ApplicationAdmin(ApplicationAdminBase):
        inlines = [*getattr(ApplicationAdminBase, "inlines", []), ClientLogoutSettingsInline]


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", _("Active")), ("ended", _("Ended"))]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.active()
        if self.value() == "ended":
            return queryset.ended()
        return queryset


class ClientFilter(admin.SimpleListFilter):
    title = _("client")
    parameter_name = "client"

    def lookups(self, request, model_admin):
        return [
            (app.client_id, app.name or app.client_id) for app in Application.objects.order_by("name")[:200]
        ]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(session_clients__application__client_id=self.value())
        return queryset


def short_datetime(value) -> str:
    """A compact local date and time (the changelist must fit a 1366 px screen)."""
    return date_format(localtime(value), "SHORT_DATETIME_FORMAT") if value else "-"


def may_end_sessions(request: HttpRequest) -> bool:
    """Ending a session needs the change permission on sessions (as the bulk action does)."""
    opts = UserSession._meta
    return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


class EndSessionMixin:
    """The "End this session" button: a POST to ``<pk>/end/`` of the UserSession admin, which ends the
    session through ``services.sessions.end_session`` (reason ``terminated``: tokens revoked per
    coordination, clients notified) and goes back to a safe ``next`` page."""

    @staticmethod
    def end_url(obj: UserSession, *, next_url: str = "") -> str:
        url = reverse("admin:django_idp_logout_usersession_end", args=[obj.pk])
        return f"{url}?{urlencode({'next': next_url})}" if next_url else url


@admin.register(UserSession)
class UserSessionAdmin(EndSessionMixin, admin.ModelAdmin):
    """Sessions: listed, searched, filtered and ended (one by one from its page, or by the action). A
    session's page is read-only: nothing of a session is edited, it is only ended."""

    # Seven narrow columns: the list fits a 1366 px screen next to the admin's navigation and the filters
    # (the end reason shares the "ended" column; long usernames are cut, whole in their tooltip).
    list_display = (
        "sid_short",
        "user_name",
        "started",
        "last_active",
        "ended",
        "client_count",
        "token_count",
    )
    list_filter = (StateFilter, ClientFilter, "end_reason")
    search_fields = ("sid",)  # plus the user model's USERNAME_FIELD and EMAIL_FIELD, see get_search_fields
    readonly_fields = (
        "sid",
        "user",
        "created_at",
        "last_activity",
        "ended_at",
        "end_reason",
        "client_list",
        "upstream_issuer",
        "upstream_sid",
        "upstream_sub",
        "browser",
        "os",
        "ip_address",
        "user_agent",
    )
    exclude = ("clients",)
    actions = ["end_selected_sessions"]
    list_select_related = ("user",)
    change_form_template = "admin/django_idp_logout/usersession/change_form.html"

    class Media:
        css = {"all": ["django_idp_logout/admin.css"]}

    def get_urls(self):
        end = path(
            "<path:object_id>/end/",
            self.admin_site.admin_view(self.end_session_view),
            name="django_idp_logout_usersession_end",
        )
        return [end, *super().get_urls()]

    def get_search_fields(self, request):
        User = get_user_model()
        names = {User.USERNAME_FIELD, getattr(User, "EMAIL_FIELD", None)} - {None}
        fields = [f"user__{name}" for name in sorted(names) if any(f.name == name for f in User._meta.fields)]
        return (*fields, *self.search_fields)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _clients=Count("session_clients", distinct=True), _tokens=Count("tokens", distinct=True)
            )
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # A session is never edited: its page is the read-only view (no Save buttons; a forged POST is
        # refused). The change permission itself still grants ending sessions (the action, the button).
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_end_permission(self, request) -> bool:
        return may_end_sessions(request)

    # Deleting a session here would bypass end_session (no revocation, no notification, bindings lost):
    # sessions are ended with the action or the button and removed later by idp_logout_cleanup. The
    # delete permission itself stays Django's, because the admin checks it for every row a delete
    # cascades to: refusing it would refuse deleting a user (or a client) who has sessions.
    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
            "end_session_url": self.end_url(obj)
            if obj is not None and obj.ended_at is None and self.has_end_permission(request)
            else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def end_session_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only (CSRF-checked by the admin): end the session, say so, go back."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_end_permission(request):
            raise PermissionDenied
        user_session = self.get_object(request, object_id)
        # Only the id exactly as the button writes it: the admin's look-up also reads " 2", "+02" or
        # "٢" as 2 (int()), and a POST that ends a session names it one way.
        if user_session is None or object_id != str(user_session.pk):
            raise Http404
        result = end_session(user_session=user_session, reason=EndReason.TERMINATED)
        if result.ended_now:
            self.log_change(request, user_session, [{"changed": {"fields": ["ended_at", "end_reason"]}}])
            self.message_user(
                request,
                _("The session of %(user)s was ended: its tokens are revoked and its clients notified.")
                % {"user": user_session.user},
                messages.SUCCESS,
            )
        else:
            self.message_user(request, _("This session had already ended."), messages.INFO)
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:django_idp_logout_usersession_change", args=[user_session.pk])
        return HttpResponseRedirect(next_url)

    @admin.display(description=_("sid"))
    def sid_short(self, obj):
        return f"{obj.sid[:8]}…"

    @admin.display(description=_("started"), ordering="created_at")
    def started(self, obj):
        return short_datetime(obj.created_at)

    @admin.display(description=_("last activity"), ordering="last_activity")
    def last_active(self, obj):
        return short_datetime(obj.last_activity)

    @admin.display(description=_("user"), ordering="user")
    def user_name(self, obj):
        name = str(obj.user)
        return format_html('<span class="idp-logout-user" title="{}">{}</span>', name, name)

    @admin.display(description=_("ended"), ordering="ended_at")
    def ended(self, obj):
        if obj.ended_at is None:
            return "-"
        return format_html(
            '{}<br><span class="idp-logout-reason">{}</span>',
            short_datetime(obj.ended_at),
            obj.get_end_reason_display(),
        )

    @admin.display(description=_("clients"), ordering="_clients")
    def client_count(self, obj):
        return obj._clients

    @admin.display(description=_("tokens"), ordering="_tokens")
    def token_count(self, obj):
        return obj._tokens

    @admin.display(description=_("clients"))
    def client_list(self, obj):
        return ", ".join(obj.session_clients.values_list("application__client_id", flat=True)) or "-"

    @admin.action(
        description=_("End selected sessions (revoke tokens, notify clients)"), permissions=["change"]
    )
    def end_selected_sessions(self, request, queryset):
        ended = end_sessions(queryset.active(), reason=EndReason.TERMINATED)
        self.message_user(
            request,
            ngettext("%(count)d session ended.", "%(count)d sessions ended.", len(ended))
            % {"count": len(ended)},
            messages.SUCCESS,
        )


class UserSessionInline(EndSessionMixin, admin.TabularInline):
    """A user's active sessions, read-only, each with an "End this session" button. Attach it to the
    project's UserAdmin: ``inlines = [..., UserSessionInline]`` (the example project does).

    The button submits the user's change form to the session's ``end/`` URL (``formaction``: forms
    cannot nest), so the admin's CSRF token goes with it and nothing of the user form is saved.
    """

    model = UserSession
    fk_name = "user"
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name = _("active session")
    verbose_name_plural = _("active sessions")
    fields = ("sid_short", "started", "last_active", "client_list", "end_button")
    readonly_fields = fields
    ordering = ("-last_activity",)

    def get_queryset(self, request):
        return super().get_queryset(request).active()

    def get_formset(self, request, obj=None, **kwargs):
        # Inline instances are made per request: remember what this request may do and where it is.
        self.can_end = may_end_sessions(request)
        self.back_to = request.get_full_path()
        return super().get_formset(request, obj, **kwargs)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        opts = UserSession._meta
        return request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or may_end_sessions(request)

    @admin.display(description=_("sid"))
    def sid_short(self, obj):
        return f"{obj.sid[:10]}…"

    @admin.display(description=_("started"))
    def started(self, obj):
        return short_datetime(obj.created_at)

    @admin.display(description=_("last activity"))
    def last_active(self, obj):
        return short_datetime(obj.last_activity)

    @admin.display(description=_("clients"))
    def client_list(self, obj):
        names = obj.session_clients.values_list("application__name", "application__client_id")
        return ", ".join(name or client_id for name, client_id in names) or "-"

    @admin.display(description="")
    def end_button(self, obj):
        if obj is None or obj.pk is None or not getattr(self, "can_end", False):
            return ""
        return format_html(
            '<button type="submit" class="button idp-logout-end" formaction="{}" formmethod="post" '
            'formnovalidate name="_end_session" value="{}">{}</button>',
            self.end_url(obj, next_url=getattr(self, "back_to", "")),
            obj.pk,
            _("End this session"),
        )


@admin.register(BackchannelNotification)
class BackchannelNotificationAdmin(admin.ModelAdmin):
    list_display = (
        "application",
        "uri",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", ("application", admin.RelatedOnlyFieldListFilter), "reason")
    search_fields = ("uri", "user_session__sid", "user_session__user__username")
    readonly_fields = [f.name for f in BackchannelNotification._meta.fields]
    actions = ["retry_now"]
    list_select_related = ("application",)

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        # The same summary as ``manage.py idp_logout_status``, above the list; its paused clients link to
        # their circuits for those who may see them.
        circuits = self.admin_site._registry.get(BackchannelCircuit)
        extra_context = {
            **(extra_context or {}),
            "delivery_status": delivery_status(client_limit=20),
            "paused_clients_url": f"{reverse('admin:django_idp_logout_backchannelcircuit_changelist')}"
            f"?{CircuitStateFilter.parameter_name}=paused"
            if circuits is not None and circuits.has_view_or_change_permission(request)
            else None,
        }
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description=_("Retry now"), permissions=["change"])
    def retry_now(self, request, queryset):
        ids = retry_now(queryset)
        dispatch(ids)
        self.message_user(
            request,
            ngettext("%(count)d notification queued.", "%(count)d notifications queued.", len(ids))
            % {"count": len(ids)},
            messages.SUCCESS,
        )


class CircuitStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("paused", _("Paused")), ("sending", _("Not paused"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "paused":
            return queryset.filter(paused_until__gt=now)
        if self.value() == "sending":
            return queryset.exclude(paused_until__gt=now)
        return queryset


#: What closing a circuit resets (its history entry names these fields).
CIRCUIT_RESET_FIELDS = ("paused_until", "consecutive_failures", "pauses")


@admin.register(BackchannelCircuit)
class BackchannelCircuitAdmin(admin.ModelAdmin):
    """Back-channel circuits, one per client that failed: which clients are paused, until when, why
    (the last error), and how many failures or pauses in a row. The worker writes them; an operator only
    resumes a client now (the action), e.g. once its team says the endpoint is back.

    Read-only otherwise: a circuit is never added or edited by hand. Deleting stays allowed (Django's
    delete permission): a circuit is only a record of failures, deleting it closes it as the action does
    (minus the last error; the next failure starts a fresh row), and refusing it would refuse deleting the
    client itself in the admin, which checks this permission for the circuit that goes with it."""

    list_display = ("client", "state", "consecutive_failures", "pauses", "error", "updated")
    list_filter = (CircuitStateFilter,)
    search_fields = ("application__client_id", "application__name")
    readonly_fields = (
        "application",
        "paused_until",
        "consecutive_failures",
        "pauses",
        "last_error",
        "updated_at",
    )
    ordering = (F("paused_until").desc(nulls_last=True), "-updated_at")
    actions = ["resume_clients"]
    list_select_related = ("application",)

    class Media:
        css = {"all": ["django_idp_logout/admin.css"]}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # A circuit's page is the read-only view; the change permission itself grants the action.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    @admin.display(description=_("client"), ordering="application__client_id")
    def client(self, obj):
        return str(obj.application)

    @admin.display(description=_("state"), ordering="paused_until")
    def state(self, obj):
        if obj.paused_until is None:
            return _("sending")
        if obj.paused_until > timezone.now():
            return _("paused until %(time)s") % {"time": short_datetime(obj.paused_until)}
        return _("pause over: next attempt decides")

    @admin.display(description=_("last error"), ordering="last_error")
    def error(self, obj):
        if not obj.last_error:
            return "-"
        return format_html(
            '<span class="idp-logout-error" title="{}">{}</span>', obj.last_error, obj.last_error
        )

    @admin.display(description=_("updated"), ordering="updated_at")
    def updated(self, obj):
        return short_datetime(obj.updated_at)

    @admin.action(description=_("Resume selected clients now (close their circuits)"), permissions=["change"])
    def resume_clients(self, request, queryset):
        circuits = close_circuits(queryset)
        with translation.override(None):  # stored in English, shown translated (as the admin's own)
            fields = [
                str(BackchannelCircuit._meta.get_field(name).verbose_name) for name in CIRCUIT_RESET_FIELDS
            ]
        for circuit in circuits:
            self.log_change(request, circuit, [{"changed": {"fields": fields}}])
        self.message_user(
            request,
            ngettext(
                "%(count)d client resumed: its due notifications go out with the next delivery run.",
                "%(count)d clients resumed: their due notifications go out with the next delivery run.",
                len(circuits),
            )
            % {"count": len(circuits)},
            messages.SUCCESS,
        )
