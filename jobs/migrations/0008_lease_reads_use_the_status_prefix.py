# The (status, lease_expires_at) index goes. Only processing jobs hold leases, and there are at most as many
# of them as the workers have slots: the reads of leases (the lease watch, takeovers) find them by the status
# prefix of the queue indexes and filter that handful. The index cost every write of a job instead: each
# claim, lease renewal and end rewrote its entry (on SecantusDB, about 0.3-0.6 ms of a claim).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0007_fk_indexes_served_by_compound"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="generationjob", name="job_lease"),
    ]
