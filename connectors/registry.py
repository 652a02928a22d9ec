"""Maps a channel kind to its adapter: the only place that knows which platforms exist."""

from __future__ import annotations

from connectors.base import Connector
from connectors.messenger.adapter import MessengerConnector
from connectors.twitter.adapter import TwitterConnector

_CONNECTORS: dict[str, Connector] = {
    MessengerConnector.kind: MessengerConnector(),
    TwitterConnector.kind: TwitterConnector(),
}


class UnknownChannelKindError(LookupError):
    pass


def connector_for(kind: str) -> Connector:
    try:
        return _CONNECTORS[kind]
    except KeyError:
        raise UnknownChannelKindError(kind) from None


def kinds() -> list[str]:
    return list(_CONNECTORS)
