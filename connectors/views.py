"""The webhook endpoints. They know no platform beyond dispatching to its connector.

GET answers the platform's verification handshake. POST checks the signature on the raw bytes
(constant time, before anything is parsed: 403 and nothing stored when it fails), stores the
event durably, answers 400 for a signed body that is not the platform's envelope, and 200
otherwise, with processing handed to the workers.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from connectors import ingest
from connectors.registry import UnknownChannelKindError, connector_for
from connectors.tasks import enqueue


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, kind: str) -> HttpResponse:
    try:
        connector = connector_for(kind)
    except UnknownChannelKindError:
        return HttpResponse("Unknown platform", status=404, content_type="text/plain")
    if request.method == "GET":
        answer = connector.handshake(request.GET)
        return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    try:
        body = request.body
    except RequestDataTooBig:
        return HttpResponse("Request body too large", status=413, content_type="text/plain")
    if not connector.verify(body, request.headers):
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    headers = {
        name: request.headers[name] for name in connector.kept_headers if name in request.headers
    }
    event, outcome = ingest.accept(kind=kind, body=body, headers=headers)
    if outcome is ingest.Outcome.INVALID:
        return HttpResponse(
            "Signed, but not a webhook envelope", status=400, content_type="text/plain"
        )
    if outcome is ingest.Outcome.ACCEPTED:
        enqueue(event.pk)
    return HttpResponse("OK", content_type="text/plain")
