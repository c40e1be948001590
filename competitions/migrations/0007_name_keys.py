"""Look-alike keys: Team.name_key (unique per competition) and UsernameKey (unique)."""

from django.conf import settings
from django.db import migrations, models

from competitions.names import name_key


def fill_keys(apps, schema_editor) -> None:
    """Key every existing team and user; a legacy look-alike gets a key made unique with
    its id, so it stays, but no new look-alike of it can be made."""
    Team = apps.get_model("competitions", "Team")
    seen: set[tuple[int, str]] = set()
    for team in Team.objects.order_by("pk"):
        key = name_key(team.name)
        if (team.competition_id, key) in seen:
            key = f"{key}#{team.pk}"
        seen.add((team.competition_id, key))
        Team.objects.filter(pk=team.pk).update(name_key=key)
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    UsernameKey = apps.get_model("competitions", "UsernameKey")
    taken: set[str] = set()
    for user in User.objects.order_by("pk"):
        key = name_key(user.username)
        if key in taken:
            key = f"{key}#{user.pk}"
        taken.add(key)
        UsernameKey.objects.create(user_id=user.pk, key=key)


class Migration(migrations.Migration):
    dependencies = [
        ("competitions", "0006_submission_scored_solution"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="team",
            name="name_key",
            field=models.CharField(default="", editable=False, max_length=400),
        ),
        migrations.CreateModel(
            name="UsernameKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(max_length=600, unique=True)),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=models.deletion.CASCADE,
                        related_name="username_key",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="team",
            constraint=models.UniqueConstraint(
                fields=("competition", "name_key"), name="team_unique_name_key"
            ),
        ),
    ]
