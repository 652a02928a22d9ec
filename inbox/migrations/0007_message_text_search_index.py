# Inbox search matches message text with PostgreSQL full-text search
# (inbox.selectors.conversations._text_matches). This GIN index over the same expression keeps
# it from reading every message of the organization. Built through Django's own index class so
# that its expression is exactly the one the selector's queries compile to. Other databases
# search with a substring match and need nothing here.

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

NAME = "message_text_search"


def _index():
    return GinIndex(SearchVector("text", config="simple"), name=NAME)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.add_index(apps.get_model("inbox", "Message"), _index())


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0006_conversation_read"),
    ]

    operations = [migrations.RunPython(create, drop)]
