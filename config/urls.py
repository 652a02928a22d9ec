from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("api/v1/", include("inbox.api.urls")),
    path("", include("connectors.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("inbox.views.urls")),
]

handler404 = "inbox.api.errors.not_found_handler"
handler500 = "inbox.api.errors.server_error_handler"
