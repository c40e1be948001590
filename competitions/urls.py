from django.urls import path

from competitions import views

app_name = "competitions"

urlpatterns = [
    path("", views.competition_list, name="list"),
    path("c/<slug:slug>/", views.competition_detail, name="detail"),
    path("c/<slug:slug>/leaderboard/", views.leaderboard, name="leaderboard"),
    path("c/<slug:slug>/join/", views.join, name="join"),
    path("c/<slug:slug>/data/<int:pk>/", views.download, name="download"),
    path("c/<slug:slug>/submit/", views.submit, name="submit"),
    path("c/<slug:slug>/submissions/", views.my_submissions, name="my_submissions"),
    path("submissions/<int:pk>/", views.submission_detail, name="submission"),
]
