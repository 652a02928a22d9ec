"""Conversations already pending get a `pending_since` (their last change is the best guess),
so that auto-resolve can count from it once an organization turns it on."""

from django.db import migrations
from django.db.models import F


def backfill(apps, schema_editor):
    Conversation = apps.get_model("inbox", "Conversation")
    Conversation.objects.filter(status="pending", pending_since__isnull=True).update(
        pending_since=F("updated_at")
    )


class Migration(migrations.Migration):
    dependencies = [("inbox", "0013_default_sla_policies")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
