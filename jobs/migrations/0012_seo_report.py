from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0011_bulk_notify_email'),
    ]

    operations = [
        migrations.AddField(
            model_name='result',
            name='seo_report',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name='result',
            name='meta_derived',
            field=models.BooleanField(default=False),
        ),
    ]
