"""Routes of /api/v1/. Everything under orgs/<slug>/ is a TenantViewSet (a meta-test checks)."""

from typing import Any

from django.urls import include, path

from inbox.api import views

LIST: dict[str, Any] = {"get": "list", "post": "create"}
DETAIL: dict[str, Any] = {"get": "retrieve", "patch": "partial_update", "put": "update"}

tenant_patterns = [
    path("channels/", views.ChannelViewSet.as_view(LIST), name="channel-list"),
    path("channels/<str:pk>/", views.ChannelViewSet.as_view(DETAIL), name="channel-detail"),
    path(
        "conversations/",
        views.ConversationViewSet.as_view({"get": "list"}),
        name="conversation-list",
    ),
    path(
        "conversations/<str:pk>/",
        views.ConversationViewSet.as_view(DETAIL),
        name="conversation-detail",
    ),
    path(
        "conversations/<str:pk>/move-to-dm/",
        views.ConversationViewSet.as_view({"post": "move_to_dm"}),
        name="conversation-move-to-dm",
    ),
    path(
        "conversations/<str:conversation_pk>/messages/",
        views.MessageViewSet.as_view(LIST),
        name="message-list",
    ),
    path(
        "conversations/<str:conversation_pk>/messages/<str:pk>/retry/",
        views.MessageViewSet.as_view({"post": "retry"}),
        name="message-retry",
    ),
    path("customers/", views.CustomerViewSet.as_view({"get": "list"}), name="customer-list"),
    path(
        "customers/<str:pk>/",
        views.CustomerViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="customer-detail",
    ),
    path("members/", views.MemberViewSet.as_view(LIST), name="member-list"),
    path(
        "members/<str:pk>/",
        views.MemberViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="member-detail",
    ),
]

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("orgs/<slug:slug>/", include(tenant_patterns)),
]
