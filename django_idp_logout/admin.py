"""Admin: sessions (list, search, end) and per-client logout options inline on DOT's Application page."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from oauth2_provider.models import get_application_model

from .conf import app_settings
from .delivery import dispatch
from .models import BackchannelNotification, ClientLogoutSettings, EndReason, UserSession
from .services.notifications import retry_now
from .services.sessions import end_sessions
from .services.status import delivery_status


class ClientLogoutSettingsInline(admin.StackedInline):
    model = ClientLogoutSettings
    can_delete = False
    max_num = 1
    verbose_name = verbose_name_plural = _("Logout")

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


@admin.register(UserSession)
class UserSessionAdmin(admin.ModelAdmin):
    list_display = (
        "sid_short",
        "user",
        "created_at",
        "last_activity",
        "ended_at",
        "end_reason",
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
    )
    exclude = ("clients",)
    actions = ["end_selected_sessions"]
    list_select_related = ("user",)

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

    def has_delete_permission(self, request, obj=None):
        # Deleting would bypass end_session (no revocation, no notification, bindings lost): sessions
        # are ended with the action below and removed later by idp_logout_cleanup.
        return False

    @admin.display(description=_("sid"))
    def sid_short(self, obj):
        return f"{obj.sid[:10]}…"

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
        # The same summary as ``manage.py idp_logout_status``, above the list.
        extra_context = {**(extra_context or {}), "delivery_status": delivery_status(client_limit=20)}
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
