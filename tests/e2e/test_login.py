"""Signing in, in a real browser, by labels only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Stack
from tests.factories import PASSWORD, MembershipFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_enter_in_the_password_field_signs_in_and_follows_next(stack: Stack, page: Page) -> None:
    agent = MembershipFactory(user__email="maria@acme.test", user__name="Maria Lopez")
    slug = agent.organization.slug
    page.goto(f"{stack.url}/o/{slug}/inbox/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label("Email").fill("maria@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(rf"/o/{slug}/inbox/$"))
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_be_visible()
