"""`manage.py simulate` makes a customer write to a running Parley, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.support.processes import asgi_server, last_json_line, manage, production_env


def test_simulate_posts_a_signed_webhook_to_a_running_server(tmp_path: Path) -> None:
    env = production_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'parley.sqlite3'}",
        META_APP_SECRET="simulate-secret",
        TWITTER_CONSUMER_SECRET="simulate-x-secret",
    )
    manage(env, "migrate", "--noinput")
    admin = last_json_line(
        manage(
            env,
            "create_organization",
            "--slug",
            "acme",
            "--name",
            "Acme",
            "--admin-email",
            "boss@acme.test",
            "--admin-password",
            "a long admin passphrase",
        )
    )
    auth = {"Authorization": f"Token {admin['token']}"}
    with asgi_server(env) as base:
        api = f"{base}/api/v1/orgs/acme"
        channel = requests.post(
            f"{api}/channels/",
            json={
                "kind": "twitter",
                "name": "@AcmeHotels",
                "external_id": "2000000000000001",
                "credentials": {"access_token": "x"},
            },
            headers=auth,
            timeout=5,
        ).json()
        for public, text in ((True, "where is my room?"), (False, "booking 4512")):
            manage(
                env,
                "simulate",
                "--org",
                "acme",
                "--channel",
                str(channel["id"]),
                "--customer",
                "Ana Lima",
                "--text",
                text,
                "--url",
                base,
                *(["--public"] if public else []),
            )
        rows = requests.get(f"{api}/conversations/", headers=auth, timeout=5).json()["results"]
        assert len(rows) == 1, "a customer's public and private messages share one thread"
        assert rows[0]["customer"]["display_name"] == "Ana Lima"
        messages = requests.get(
            f"{api}/conversations/{rows[0]['id']}/messages/", headers=auth, timeout=5
        ).json()["results"]
        assert [(m["visibility"], m["text"]) for m in messages] == [
            ("public", "@AcmeHotels where is my room?"),
            ("private", "booking 4512"),
        ]
