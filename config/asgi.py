"""ASGI entry point: HTTP through Django, websockets through Channels, lifespan for the
embedded timer.

Serve with `python -m uvicorn config.asgi:application --host H --port P`.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from config.timer import with_embedded_timer  # noqa: E402

application = with_embedded_timer(ProtocolTypeRouter({"http": django_asgi_app}))
