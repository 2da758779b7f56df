# Hand-written: DOT models are referenced through oauth2_settings.*_MODEL (swappable-safe).

import django.db.models.deletion
from django.db import migrations, models
from oauth2_provider.settings import oauth2_settings


class Migration(migrations.Migration):

    dependencies = [
        ("django_idp_logout", "0004_upstream_logout_tokens"),
        # swappable_dependency() points at DOT's first migration; DeviceGrant arrives in 0013.
        ("oauth2_provider", "0013_alter_application_authorization_grant_type_device"),
        migrations.swappable_dependency(oauth2_settings.DEVICE_GRANT_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="sessiontoken",
            name="device_grant",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="idp_logout_binding",
                to=oauth2_settings.DEVICE_GRANT_MODEL,
            ),
        ),
    ]
