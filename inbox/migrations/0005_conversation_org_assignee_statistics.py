# PostgreSQL plans "an agent's conversations" from the organization and the assignee as if they
# were independent, so it underestimates the rows (an assignee implies the organization) and
# prefers sorting the agent's whole history over the ordered conversation_assignee_recent scan.
# Functional-dependency statistics correct the estimate. Other databases have no equivalent.

from django.db import migrations

NAME = "conversation_org_assignee_stats"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE STATISTICS IF NOT EXISTS {NAME} (dependencies) "
        "ON organization_id, assignee_id FROM inbox_conversation"
    )
    # Fill the new statistics now rather than at the next automatic analyze.
    schema_editor.execute("ANALYZE inbox_conversation")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME}")


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0004_conversation_assignee_recent_index"),
    ]

    operations = [migrations.RunPython(create, drop)]
