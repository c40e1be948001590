"""Whether a competition can take debug runs: the one rule, used by the submit page and
API (competitions.services.submissions) and by the worker preparing the debug sample
(scoring.data). It depends on the models only, so both sides import it directly."""

from competitions.models import Competition, CompetitionFile


def debug_runs_available(*, competition: Competition) -> str:
    """Why debug runs are impossible in this competition, or "" when they are possible."""
    kinds = list(
        competition.files.filter(
            kind__in=[CompetitionFile.Kind.DEBUG_TEST, CompetitionFile.Kind.TEST]
        ).values_list("kind", "name")
    )
    if any(kind == CompetitionFile.Kind.DEBUG_TEST for kind, _ in kinds):
        return ""
    if competition.debug_sample_rows == 0:
        return f"Debug runs are off in {competition.title}: the organizers set no debug sample."
    tests = [name for kind, name in kinds if kind == CompetitionFile.Kind.TEST]
    if len(tests) != 1 or not tests[0].lower().endswith(".csv"):
        return (
            f"Debug runs are not available in {competition.title}: its test data is not a "
            "single CSV file and the organizers gave no debug sample."
        )
    return ""
