"""API tokens (DRF's authtoken table: one token per user)."""

from rest_framework.authtoken.models import Token

from inbox.models import User


def token_for(user: User) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return str(token.key)
