"""What a person needs to recognise a session (User-Agent, browser, OS, IP), a per-user index for the
"your sessions" page and the session limit, and the end reasons ``remote_logout`` and ``session_limit``."""

from django.conf import settings
from django.db import migrations, models

REASONS = [
    ("user_logout", "User logout"),
    ("session_expiration", "Session expired"),
    ("terminated", "Terminated by an operator"),
    ("upstream_logout", "Upstream provider logout"),
    ("remote_logout", "Signed out by the user from another device"),
    ("session_limit", "Ended by the concurrent session limit"),
]


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("django_idp_logout", "0004_upstream_logout_tokens"),
    ]

    operations = [
        migrations.AddField(
            model_name="usersession",
            name="user_agent",
            field=models.CharField(blank=True, max_length=512, verbose_name="user agent"),
        ),
        migrations.AddField(
            model_name="usersession",
            name="browser",
            field=models.CharField(blank=True, max_length=64, verbose_name="browser"),
        ),
        migrations.AddField(
            model_name="usersession",
            name="os",
            field=models.CharField(blank=True, max_length=64, verbose_name="operating system"),
        ),
        migrations.AddField(
            model_name="usersession",
            name="ip_address",
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name="IP address"),
        ),
        migrations.AlterField(
            model_name="usersession",
            name="end_reason",
            field=models.CharField(blank=True, choices=REASONS, max_length=32, verbose_name="end reason"),
        ),
        migrations.AlterField(
            model_name="backchannelnotification",
            name="reason",
            field=models.CharField(choices=REASONS, max_length=32, verbose_name="reason"),
        ),
        migrations.AddIndex(
            model_name="usersession",
            index=models.Index(fields=["user", "ended_at"], name="idp_logout_us_user_live"),
        ),
    ]
