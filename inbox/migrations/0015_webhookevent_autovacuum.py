# WebhookEvent is a queue: every event is inserted as received and updated once processed, so
# its (status, received_at) index fills with entries for dead "received" versions that each
# claim must step over until a vacuum removes them. PostgreSQL's default (vacuum after 20% of
# the table changed) lets millions pile up on a large table; vacuum it after 1% instead.

from django.db import migrations

TABLE = "inbox_webhookevent"


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE {TABLE} SET (autovacuum_vacuum_scale_factor = 0.01, "
            "autovacuum_analyze_scale_factor = 0.02)"
        )


def untune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE {TABLE} RESET (autovacuum_vacuum_scale_factor, "
            "autovacuum_analyze_scale_factor)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0014_backfill_pending_since"),
    ]

    operations = [migrations.RunPython(tune, untune)]
