from django.urls import path

from competitions import api

urlpatterns = [
    path("competitions/", api.CompetitionListApi.as_view(), name="api-competitions"),
    path("competitions/<slug:slug>/", api.CompetitionDetailApi.as_view(), name="api-competition"),
    path("competitions/<slug:slug>/join/", api.CompetitionJoinApi.as_view(), name="api-join"),
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
    path("submissions/<int:pk>/", api.SubmissionDetailApi.as_view(), name="api-submission"),
]
