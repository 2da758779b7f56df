"""Read-only admin for the session index: who is signed in through the OP, and how sessions ended."""

from django.contrib import admin

from .models import RPSession


@admin.register(RPSession)
class RPSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "sub", "sid", "issuer", "created_at", "ended_at", "end_reason")
    list_filter = ("end_reason", "issuer")
    search_fields = ("sub", "sid", "user__username")
    date_hierarchy = "created_at"
    raw_id_fields = ("user",)
    readonly_fields = [field.name for field in RPSession._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
