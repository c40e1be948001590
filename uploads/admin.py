from django.contrib import admin

from uploads.models import Upload


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["filename", "user", "competition", "offset", "size", "updated_at"]
    list_filter = ["competition"]
    readonly_fields = [f.name for f in Upload._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
