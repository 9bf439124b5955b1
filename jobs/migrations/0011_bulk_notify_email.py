from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0010_usage'),
    ]

    operations = [
        migrations.AddField(
            model_name='bulkjob',
            name='notify_email',
            field=models.BooleanField(default=False),
        ),
    ]
