# Hand-written: DOT models are referenced through oauth2_settings.*_MODEL (swappable-safe).

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models
from oauth2_provider.settings import oauth2_settings


class Migration(migrations.Migration):

    dependencies = [
        ('django_idp_logout', '0005_session_device'),
        migrations.swappable_dependency(oauth2_settings.APPLICATION_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='backchannelnotification',
            name='claim_token',
            field=models.CharField(blank=True, default='', editable=False, max_length=32, verbose_name='claim'),
        ),
        migrations.CreateModel(
            name='BackchannelCircuit',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('consecutive_failures', models.PositiveIntegerField(default=0, verbose_name='failures in a row')),
                ('pauses', models.PositiveIntegerField(default=0, verbose_name='pauses in a row')),
                ('paused_until', models.DateTimeField(blank=True, db_index=True, null=True, verbose_name='paused until')),
                ('last_error', models.CharField(blank=True, max_length=255, verbose_name='last error')),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='updated')),
                ('application', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='backchannel_circuit', to=oauth2_settings.APPLICATION_MODEL)),
            ],
            options={
                'verbose_name': 'back-channel circuit',
                'verbose_name_plural': 'back-channel circuits',
            },
        ),
    ]
