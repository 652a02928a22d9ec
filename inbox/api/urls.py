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
    path(
        "conversations/<str:conversation_pk>/follow-ups/",
        views.FollowUpViewSet.as_view(LIST),
        name="follow-up-list",
    ),
    path(
        "conversations/<str:conversation_pk>/follow-ups/<str:pk>/",
        views.FollowUpViewSet.as_view({"delete": "destroy"}),
        name="follow-up-detail",
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
    path("sla-policies/", views.SLAPolicyViewSet.as_view(LIST), name="sla-policy-list"),
    path(
        "sla-policies/<str:pk>/",
        views.SLAPolicyViewSet.as_view({**DETAIL, "delete": "destroy"}),
        name="sla-policy-detail",
    ),
    path("business-hours/", views.BusinessHoursViewSet.as_view(LIST), name="business-hours-list"),
    path(
        "business-hours/<str:pk>/",
        views.BusinessHoursViewSet.as_view({**DETAIL, "delete": "destroy"}),
        name="business-hours-detail",
    ),
    path(
        "auto-resolve/",
        views.AutoResolveViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "put": "update"}
        ),
        name="auto-resolve",
    ),
]

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("orgs/<slug:slug>/", include(tenant_patterns)),
]
