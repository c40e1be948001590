"""Recompute the look-alike keys (Team.name_key, UsernameKey.key) with competitions.names
as it now is: case folded before the skeleton, case-induced confusables (i/l, o/O, ...)
joined, and every Default_Ignorable_Code_Point dropped. As in 0007, a legacy look-alike
gets its key made unique with its id ("key#pk"): it stays, no new look-alike can be made.
"""

from django.conf import settings
from django.db import migrations

from competitions.names import name_key


def refill_keys(apps, schema_editor) -> None:
    Team = apps.get_model("competitions", "Team")
    # Park every key on a value no key can take (keys hold no spaces) so the unique
    # constraint cannot trip while keys move.
    for pk in Team.objects.values_list("pk", flat=True):
        Team.objects.filter(pk=pk).update(name_key=f" {pk}")
    seen: set[tuple[int, str]] = set()
    for team in Team.objects.order_by("pk"):
        key = name_key(team.name)
        if (team.competition_id, key) in seen:
            key = f"{key}#{team.pk}"
        seen.add((team.competition_id, key))
        Team.objects.filter(pk=team.pk).update(name_key=key)
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    UsernameKey = apps.get_model("competitions", "UsernameKey")
    UsernameKey.objects.all().delete()
    taken: set[str] = set()
    for user in User.objects.order_by("pk"):
        key = name_key(user.username)
        if key in taken:
            key = f"{key}#{user.pk}"
        taken.add(key)
        UsernameKey.objects.create(user_id=user.pk, key=key)


class Migration(migrations.Migration):
    dependencies = [
        ("competitions", "0009_failed_runs_count_help"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(refill_keys, migrations.RunPython.noop)]
