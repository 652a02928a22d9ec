from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Role
from inbox.services.messages import message_receive
from tests.conftest import api_client

pytestmark = pytest.mark.django_db


def test_receive_then_reply_through_the_api(
    agent, channel, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        received = message_receive(
            organization=agent.organization,
            channel=channel,
            platform_user_id="psid-1",
            external_id="m_1",
            text="Is breakfast included?",
            sent_at=timezone.now() - timedelta(minutes=1),
        )
        assert published == []
    client = api_client(agent)
    base = f"/api/v1/orgs/{agent.organization.slug}"
    rows = client.get(f"{base}/conversations/").json()
    assert [r["id"] for r in rows["results"]] == [received.conversation.pk]
    assert rows["results"][0]["last_message"] == "Is breakfast included?"
    assert rows["results"][0]["window"]["state"] == "open"
    r = client.post(
        f"{base}/conversations/{received.conversation.pk}/messages/",
        {"text": "Yes it is", "idempotency_key": "k1"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    again = client.post(
        f"{base}/conversations/{received.conversation.pk}/messages/",
        {"text": "Yes it is", "idempotency_key": "k1"},
        format="json",
    )
    assert again.json()["id"] == r.json()["id"]
    messages = client.get(f"{base}/conversations/{received.conversation.pk}/messages/").json()
    assert [m["direction"] for m in messages["results"]] == ["inbound", "outbound"]
    assert [e.name for e in published][:2] == ["conversation.created", "message.created"]


def test_outsider_gets_404(agent, channel, make_member):
    outsider = make_member(Role.ADMIN)
    client = api_client(outsider)
    r = client.get(f"/api/v1/orgs/{agent.organization.slug}/conversations/")
    assert r.status_code == 404
    assert r.json()["status"] == 404
