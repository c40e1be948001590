"""Write actions on competitions, teams and submissions (one module per subject)."""

from competitions.services.accounts import account_token_rotate
from competitions.services.common import leaderboard_invalidate
from competitions.services.files import (
    CHUNK,
    competition_file_delete,
    competition_file_store,
    file_sha256,
)
from competitions.services.results import (
    competition_hide_private,
    competition_rescore,
    competition_reveal_private,
)
from competitions.services.submissions import (
    debug_runs_available,
    submission_cancel,
    submission_create,
    submission_quota,
    submission_requeue,
    submission_select,
)
from competitions.services.teams import (
    competition_join,
    merge_allowance,
    merger_deadline,
    team_invitation_cancel,
    team_invitation_respond,
    team_invite,
    team_merge_request,
    team_merge_respond,
    team_rename,
)

__all__ = [
    "CHUNK",
    "account_token_rotate",
    "competition_file_delete",
    "competition_file_store",
    "competition_hide_private",
    "competition_join",
    "competition_rescore",
    "competition_reveal_private",
    "debug_runs_available",
    "file_sha256",
    "leaderboard_invalidate",
    "merge_allowance",
    "merger_deadline",
    "submission_cancel",
    "submission_create",
    "submission_quota",
    "submission_requeue",
    "submission_select",
    "team_invitation_cancel",
    "team_invitation_respond",
    "team_invite",
    "team_merge_request",
    "team_merge_respond",
    "team_rename",
]
