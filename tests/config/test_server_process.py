"""The production process contract, end to end over real HTTP.

Only the documented variables are set, DEBUG is off, `migrate --noinput` is the only set-up
step, and the ASGI server serves plain HTTP (no HTTPS redirect), static files and the login.
"""

from __future__ import annotations

import re
from pathlib import Path

import requests

from tests.support.processes import asgi_server, last_json_line, manage, production_env


def test_fresh_database_to_signed_in_agent_over_http(tmp_path: Path) -> None:
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'parley.sqlite3'}")
    manage(env, "migrate", "--noinput")
    created = last_json_line(
        manage(
            env,
            "create_organization",
            "--slug",
            "acme",
            "--name",
            "Acme & Co",
            "--admin-email",
            "boss@acme.test",
            "--admin-password",
            "a long admin passphrase",
        )
    )
    agent = last_json_line(
        manage(
            env,
            "create_member",
            "--org",
            "acme",
            "--email",
            "agent@acme.test",
            "--password",
            "a long agent passphrase",
            "--role",
            "agent",
        )
    )
    assert {"token", "organization_id", "user_id"} <= set(agent)
    assert agent["organization_id"] == created["organization_id"]

    with asgi_server(env) as base:
        home = requests.get(f"{base}/", allow_redirects=False, timeout=5)
        assert home.status_code == 302
        assert home.headers["Location"].startswith("/accounts/login/")

        session = requests.Session()
        login = session.get(f"{base}/accounts/login/?next=/o/acme/", timeout=5)
        assert login.status_code == 200
        assert '<label for="id_username">Email</label>' in login.text
        assert '<label for="id_password">Password</label>' in login.text
        css = re.search(r'href="(/static/[^"]+\.css)"', login.text)
        assert css is not None
        assert session.get(f"{base}{css.group(1)}", timeout=5).status_code == 200

        signed_in = session.post(
            f"{base}/accounts/login/",
            data={
                "username": "AGENT@acme.test",
                "password": "a long agent passphrase",
                "next": "/o/acme/",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            timeout=5,
        )
        assert signed_in.status_code == 200
        assert signed_in.url == f"{base}/o/acme/"
        assert "Acme &amp; Co" in signed_in.text

        api = requests.get(
            f"{base}/api/v1/orgs/acme/conversations/",
            headers={"Authorization": f"Token {agent['token']}"},
            timeout=5,
        )
        assert api.status_code == 200
        assert api.json() == {"next": None, "previous": None, "results": []}
        assert requests.get(f"{base}/api/schema/", timeout=5).status_code == 200
