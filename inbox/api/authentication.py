"""`Authorization: Token <key>`: judged by the token alone, before any session cookie."""

from rest_framework.authentication import TokenAuthentication as _DRFTokenAuthentication


class TokenAuthentication(_DRFTokenAuthentication):
    keyword = "Token"
