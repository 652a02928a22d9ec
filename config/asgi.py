"""ASGI entry point: HTTP through Django (webhook POSTs on PostgreSQL through the lean
`connectors.receiver` first), websockets through Channels, lifespan for the embedded timer.

Serve with `python -m uvicorn config.asgi:application --host H --port P
--ws-per-message-deflate false` (events are small JSON frames: compressing each one for every
socket cost more than the bytes it saved).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from config.timer import with_embedded_timer  # noqa: E402
from connectors import receiver  # noqa: E402
from inbox.routing import websocket_urlpatterns  # noqa: E402

application = with_embedded_timer(
    ProtocolTypeRouter(
        {
            "http": receiver.WebhookReceiver(django_asgi_app),
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    ),
    on_shutdown=[receiver.shutdown],
)
