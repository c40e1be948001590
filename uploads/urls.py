from django.urls import path

from uploads import api

urlpatterns = [
    path("uploads/", api.UploadCreateApi.as_view(), name="api-uploads"),
    path("uploads/<str:upload_id>/", api.UploadDetailApi.as_view(), name="api-upload"),
]
