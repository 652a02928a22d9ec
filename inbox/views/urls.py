from django.contrib.auth import views as auth_views
from django.urls import path

from inbox.views import inbox, pages
from inbox.views import settings as settings_views
from inbox.views.forms import EmailAuthenticationForm

urlpatterns = [
    path("", pages.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("o/<slug:slug>/", pages.organization_home, name="organization-home"),
    path("o/<slug:slug>/inbox/", inbox.inbox, name="inbox"),
    path("o/<slug:slug>/inbox/rows/", inbox.rows, name="inbox-rows"),
    path("o/<slug:slug>/inbox/rows/<int:conversation_id>/", inbox.row, name="inbox-row"),
    path("o/<slug:slug>/inbox/<int:conversation_id>/", inbox.inbox, name="inbox-conversation"),
    path(
        "o/<slug:slug>/inbox/<int:conversation_id>/messages/",
        inbox.thread_messages_after,
        name="inbox-messages",
    ),
    path(
        "o/<slug:slug>/inbox/<int:conversation_id>/messages/<int:message_id>/",
        inbox.thread_message,
        name="inbox-message",
    ),
    path(
        "o/<slug:slug>/inbox/<int:conversation_id>/messages/<int:message_id>/retry/",
        inbox.retry,
        name="inbox-retry",
    ),
    path(
        "o/<slug:slug>/inbox/<int:conversation_id>/actions/",
        inbox.conversation_action,
        name="inbox-action",
    ),
    path("o/<slug:slug>/inbox/<int:conversation_id>/reply/", inbox.reply, name="inbox-reply"),
    path(
        "o/<slug:slug>/inbox/<int:conversation_id>/move-to-dm/",
        inbox.move_to_dm,
        name="inbox-move-to-dm",
    ),
    path(
        "o/<slug:slug>/inbox/<int:conversation_id>/follow-ups/",
        inbox.follow_up,
        name="inbox-follow-up",
    ),
    path(
        "o/<slug:slug>/inbox/<int:conversation_id>/follow-ups/<int:follow_up_id>/cancel/",
        inbox.follow_up_cancel_view,
        name="inbox-follow-up-cancel",
    ),
    path("o/<slug:slug>/settings/sla/", settings_views.sla_settings, name="settings-sla"),
]
