from django.urls import path

from . import import_views, views

app_name = "requests_app"

urlpatterns = [
    path("requests/mine/", views.my_requests, name="my_requests"),
    path("requests/new/", views.request_new, name="request_new"),
    path("requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("requests/<int:pk>/edit/", views.request_edit, name="request_edit"),
    path("requests/<int:pk>/escalate/", views.request_escalate, name="request_escalate"),
    path("requests/suggestions/", views.request_suggestions, name="request_suggestions"),
    path("requests/new/accounts/", views.account_options, name="account_options"),
    path("requests/new/deals/", views.deal_options, name="deal_options"),
    path("deals/mine/", views.my_deals, name="my_deals"),
    path("sponsor/", views.sponsor, name="sponsor"),
    path("search/", views.search, name="search"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_mark_read, name="notifications_mark_read"),
    path("imports/", import_views.imports, name="imports"),
    path("imports/<int:pk>/", import_views.import_job, name="import_job"),
]
