from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("idp_logout_rp", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="rpsession",
            index=models.Index(fields=["session_key"], name="idp_logout_rp_session_key"),
        ),
    ]
