"""URLs of the REST API v1, mounted at /api/v1/ (the DESIGN.md paths are stable).

Token auth (`Authorization: Token KEY`) or the browser session; JSON; lists of
competitions and submissions are paginated (`?page=`, `?page_size=`, answers
`{count, next, previous, results}`); anonymous and per-user throttles answer 429.
Schema: /api/schema/ · docs: /api/docs/ (Swagger UI), /api/redoc/ (served locally).

GET        competitions/                                   list (anyone)
GET        competitions/{slug}/                            one, with limits and state
POST       competitions/{slug}/join/                       accept the rules -> {id, name}
GET        competitions/{slug}/files/                      downloadable files (train, sample)
GET        competitions/{slug}/files/{id}/download/        the file's bytes
GET/PATCH  competitions/{slug}/team/                       my team, members, quota / rename
GET/POST   competitions/{slug}/team/invitations/           sent invitations / invite {username}
POST       competitions/{slug}/team/invitations/{id}/cancel/
GET/POST   competitions/{slug}/team/merge-requests/        pending / ask {target_team}
POST       competitions/{slug}/team/merge-requests/{id}/respond/   {accept}
GET/POST   competitions/{slug}/submissions/                my team's runs / submit (multipart
                                                           `image` or JSON `upload` id,
                                                           `description`, `debug`)
GET        competitions/{slug}/leaderboard/?kind=&page=&page_size=  {competition, kind, metric,
                                                          page, page_size, total, entries, own}
GET        competitions/{slug}/leaderboard/csv/?kind=      the whole board, streamed CSV
GET        competitions/{slug}/leaderboard/shakeup/        public -> private rank moves
GET        submissions/{id}/                               status, failure, scores, usage, queue
GET        submissions/{id}/log/                           log where visible (403 when hidden)
POST       submissions/{id}/cancel/                        cancel a queued or running run
POST       submissions/{id}/select/                        {selected}: final submission or not
GET        invitations/?competition=                       invitations addressed to me
POST       invitations/{id}/respond/                       {accept}
GET/POST   account/token/                                  my API token / replace it
(uploads/ is the uploads app's resumable upload protocol.)
"""

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
        "competitions/<slug:slug>/leaderboard/csv/",
        api.LeaderboardCsvApi.as_view(),
        name="api-leaderboard-csv",
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
        "submissions/<int:pk>/rerun/",
        api.SubmissionRerunApi.as_view(),
        name="api-submission-rerun",
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
