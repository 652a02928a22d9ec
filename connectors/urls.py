from django.urls import path

from connectors import views

urlpatterns = [
    path("webhooks/<str:kind>/", views.webhook, name="webhook"),
]
