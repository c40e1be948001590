from django.db import migrations, models


def scored_on_current_solution(apps, schema_editor):
    """Submissions scored before this field existed were scored on the solution stored now
    (the best knowledge there is): record its checksum so none looks stale."""
    Submission = apps.get_model("competitions", "Submission")
    CompetitionFile = apps.get_model("competitions", "CompetitionFile")
    for record in CompetitionFile.objects.filter(kind="solution"):
        Submission.objects.filter(competition_id=record.competition_id).filter(
            models.Q(status="scored")
            | models.Q(status="failed", failure_kind="invalid_predictions")
        ).update(scored_solution_sha256=record.sha256)


class Migration(migrations.Migration):
    dependencies = [
        ("competitions", "0005_competition_split_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="submission",
            name="scored_solution_sha256",
            field=models.CharField(
                blank=True,
                help_text="SHA-256 of the solution its scores come from; another than the "
                "current solution's means the scores are stale until a rescore.",
                max_length=64,
            ),
        ),
        migrations.RunPython(scored_on_current_solution, migrations.RunPython.noop),
    ]
