"""Every organization gets the default SLA policy that organization_create now creates:
first and next response 15 minutes, resolution 24 hours, calendar time."""

from django.db import migrations


def create_default_policies(apps, schema_editor):
    Organization = apps.get_model("inbox", "Organization")
    SLAPolicy = apps.get_model("inbox", "SLAPolicy")
    with_default = SLAPolicy.objects.filter(is_default=True).values("organization_id")
    SLAPolicy.objects.bulk_create(
        [
            SLAPolicy(
                organization_id=organization_id,
                name="Default",
                is_default=True,
                first_response_minutes=15,
                next_response_minutes=15,
                resolution_minutes=24 * 60,
            )
            for organization_id in Organization.objects.exclude(pk__in=with_default)
            .values_list("pk", flat=True)
            .iterator()
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [("inbox", "0012_follow_ups")]

    operations = [migrations.RunPython(create_default_policies, migrations.RunPython.noop)]
