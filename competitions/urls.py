from django.urls import path

from competitions import runtime_views, views

app_name = "competitions"

urlpatterns = [
    path("", views.competition_list, name="list"),
    path("account/", views.account, name="account"),
    path("c/<slug:slug>/", views.competition_detail, name="detail"),
    path("c/<slug:slug>/data/", views.competition_data, name="data"),
    path("c/<slug:slug>/rules/", views.competition_rules, name="rules"),
    path("c/<slug:slug>/leaderboard/", views.leaderboard, name="leaderboard"),
    path("c/<slug:slug>/leaderboard.csv", views.leaderboard_csv, name="leaderboard_csv"),
    path("c/<slug:slug>/join/", views.join, name="join"),
    path("c/<slug:slug>/data/<int:pk>/", views.download, name="download"),
    path("c/<slug:slug>/submit/", views.submit, name="submit"),
    path(
        "c/<slug:slug>/runtime-images/<int:pk>/image.tar",
        runtime_views.runtime_image_download,
        name="runtime_image_download",
    ),
    path("c/<slug:slug>/submissions/", views.my_submissions, name="my_submissions"),
    path("c/<slug:slug>/team/", views.team_page, name="team"),
    path("c/<slug:slug>/team/rename/", views.team_rename_view, name="team_rename"),
    path("c/<slug:slug>/team/invite/", views.team_invite_view, name="team_invite"),
    path(
        "c/<slug:slug>/team/invitations/<int:pk>/cancel/",
        views.team_invitation_cancel_view,
        name="team_invitation_cancel",
    ),
    path("c/<slug:slug>/team/merge/", views.team_merge_view, name="team_merge"),
    path(
        "c/<slug:slug>/team/merge/<int:pk>/respond/",
        views.team_merge_respond_view,
        name="team_merge_respond",
    ),
    path("invitations/<int:pk>/respond/", views.invitation_respond, name="invitation_respond"),
    path("submissions/<int:pk>/", views.submission_detail, name="submission"),
    path("submissions/<int:pk>/status.json", views.submission_status, name="submission_status"),
    path("submissions/<int:pk>/cancel/", views.submission_cancel_view, name="submission_cancel"),
    path("submissions/<int:pk>/select/", views.submission_select_view, name="submission_select"),
    path(
        "submissions/<int:pk>/rerun/", runtime_views.submission_rerun_view, name="submission_rerun"
    ),
    path(
        "submissions/<int:pk>/describe/",
        views.submission_describe_view,
        name="submission_describe",
    ),
]
