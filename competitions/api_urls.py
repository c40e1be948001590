"""URLs of the REST API v1, mounted at /api/v1/ (paths fixed by shared/DESIGN.md)."""

from django.urls import path

from competitions import api

urlpatterns = [
    path("competitions/", api.CompetitionListApi.as_view(), name="api-competitions"),
    path("competitions/<slug:slug>/", api.CompetitionDetailApi.as_view(), name="api-competition"),
    path("competitions/<slug:slug>/join/", api.CompetitionJoinApi.as_view(), name="api-join"),
    path(
        "competitions/<slug:slug>/files/",
        api.CompetitionFilesApi.as_view(),
        name="api-competition-files",
    ),
    path(
        "competitions/<slug:slug>/files/<int:pk>/download/",
        api.CompetitionFileDownloadApi.as_view(),
        name="api-competition-file-download",
    ),
    path("competitions/<slug:slug>/team/", api.TeamApi.as_view(), name="api-team"),
    path(
        "competitions/<slug:slug>/team/invitations/",
        api.TeamInvitationsApi.as_view(),
        name="api-team-invitations",
    ),
    path(
        "competitions/<slug:slug>/team/invitations/<int:pk>/cancel/",
        api.InvitationCancelApi.as_view(),
        name="api-team-invitation-cancel",
    ),
    path(
        "competitions/<slug:slug>/team/merge-requests/",
        api.TeamMergeRequestsApi.as_view(),
        name="api-team-merge-requests",
    ),
    path(
        "competitions/<slug:slug>/team/merge-requests/<int:pk>/respond/",
        api.MergeRequestRespondApi.as_view(),
        name="api-team-merge-request-respond",
    ),
    path(
        "competitions/<slug:slug>/submissions/",
        api.CompetitionSubmissionsApi.as_view(),
        name="api-submissions",
    ),
    path(
        "competitions/<slug:slug>/leaderboard/",
        api.LeaderboardApi.as_view(),
        name="api-leaderboard",
    ),
    path(
        "competitions/<slug:slug>/leaderboard/shakeup/",
        api.ShakeupApi.as_view(),
        name="api-leaderboard-shakeup",
    ),
    path("submissions/<int:pk>/", api.SubmissionDetailApi.as_view(), name="api-submission"),
    path("submissions/<int:pk>/log/", api.SubmissionLogApi.as_view(), name="api-submission-log"),
    path(
        "submissions/<int:pk>/cancel/",
        api.SubmissionCancelApi.as_view(),
        name="api-submission-cancel",
    ),
    path(
        "submissions/<int:pk>/select/",
        api.SubmissionSelectApi.as_view(),
        name="api-submission-select",
    ),
    path("invitations/", api.InvitationListApi.as_view(), name="api-invitations"),
    path(
        "invitations/<int:pk>/respond/",
        api.InvitationRespondApi.as_view(),
        name="api-invitation-respond",
    ),
    path("account/token/", api.AccountTokenApi.as_view(), name="api-account-token"),
]
