"""`podium`: Podium's command line, shaped like the Kaggle CLI.

podium competitions list | files COMP | download COMP [-p PATH] | join COMP
podium competitions submit COMP -f image.tar|code.zip -m MSG [--debug] [--wait]
                             [--runtime-image NAME]
podium competitions submissions COMP | leaderboard COMP [--show | --download]
podium competitions shakeup COMP
podium competitions team COMP [--rename NAME] | invite COMP USERNAME | invitations COMP
podium submission ID [--wait] [--log] [--cancel] [--select | --unselect]
                     [--rerun [--debug]]
podium invitation ID --accept | --decline
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import requests

from podium_cli import __version__
from podium_cli.artifacts import NotAnArtifact, artifact_kind
from podium_cli.client import Api, ApiError
from podium_cli.config import ConfigError, load_config
from podium_cli.progress import ProgressBar, human_size
from podium_cli.text import csv_cell, display_width, pad, printable
from podium_cli.upload import submit as submit_image

FINISHED = {"scored", "failed", "cancelled"}
UNSUCCESSFUL = {"failed", "cancelled"}


class Output:
    """Where results (stdout) and chatter (stderr) go; replaceable in tests."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def say(self, text: str = "") -> None:
        print(printable(text), file=self.out)

    def note(self, text: str) -> None:
        print(printable(text), file=self.err)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table(out: Output, rows: list[dict[str, Any]], columns: list[str], as_csv: bool) -> None:
    """Aligned columns for people, CSV (`-v`) for scripts."""
    if as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(csv_cell(row.get(c))) for c in columns] for row in rows])
        out.out.write(buffer.getvalue())
        return
    if not rows:
        out.say("No results.")
        return
    cells = [[printable(_cell(row.get(c)), keep="") for c in columns] for row in rows]
    # Aligned by display width, not by code points: a CJK or emoji team name takes two
    # columns a character, a combining accent none.
    widths = [
        max(display_width(c), *(display_width(r[i]) for r in cells)) for i, c in enumerate(columns)
    ]
    out.say("  ".join(pad(c, w) for c, w in zip(columns, widths, strict=True)).rstrip())
    out.say("  ".join("-" * w for w in widths))
    for row in cells:
        out.say("  ".join(pad(v, w) for v, w in zip(row, widths, strict=True)).rstrip())


# Commands


def competitions_list(api: Api, args: argparse.Namespace, out: Output) -> int:
    rows = list(api.paged("/api/v1/competitions/"))
    if args.search:
        needle = args.search.lower()
        rows = [r for r in rows if needle in r["slug"].lower() or needle in r["title"].lower()]
    for row in rows:
        row["state"] = "ended" if row.get("has_ended") else "open" if row.get("is_open") else "soon"
    table(out, rows, ["slug", "title", "metric", "start", "end", "state"], args.csv)
    return 0


def competition_files(api: Api, args: argparse.Namespace, out: Output) -> int:
    rows = api.get(f"/api/v1/competitions/{args.competition}/files/")
    for row in rows:
        row["size_text"] = human_size(row["size"])
    columns = ["name", "kind", "size_text", "created_at"]
    if args.csv:
        columns = ["id", "name", "kind", "size", "sha256", "created_at"]
    table(out, rows, columns, args.csv)
    return 0


def _local_path(root: Path, record: dict[str, Any]) -> Path:
    """The files keep the container's layout: train/… and sample_submission.csv."""
    parts = [p for p in Path(record["name"]).parts if p not in ("", ".", "..", "/")]
    relative = Path(*parts) if parts else Path(f"file-{record['id']}")
    if record["kind"] == "sample_submission":
        return root / relative
    return root / record["kind"] / relative


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def competition_download(api: Api, args: argparse.Namespace, out: Output) -> int:
    files = api.get(f"/api/v1/competitions/{args.competition}/files/")
    if args.file:
        files = [f for f in files if f["name"] == args.file]
        if not files:
            raise ApiError(f"{args.competition} has no downloadable file named {args.file!r}.")
    root = Path(args.path or ".")
    for record in files:
        target = _local_path(root, record)
        if (
            target.exists()
            and target.stat().st_size == record["size"]
            and (not record.get("sha256") or _sha256(target) == record["sha256"])
        ):
            out.note(f"{target}: up to date, skipped")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        progress = ProgressBar(record["size"], label=record["name"], stream=out.err)
        response = api.request("GET", record["download_url"], stream=True)
        digest, done = hashlib.sha256(), 0
        with partial.open("wb") as handle:
            try:
                for chunk in response.iter_content(1024 * 1024):
                    handle.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    progress.update(done)
            finally:
                progress.close()
        if record.get("sha256") and digest.hexdigest() != record["sha256"]:
            partial.unlink(missing_ok=True)
            raise ApiError(f"{record['name']} arrived damaged (checksum mismatch); retry.")
        partial.replace(target)
        out.say(str(target))
    return 0


def competition_join(api: Api, args: argparse.Namespace, out: Output) -> int:
    team = api.post(f"/api/v1/competitions/{args.competition}/join/")
    out.say(f"You are in {args.competition} as team {team['name']!r}.")
    return 0


def competition_submit(api: Api, args: argparse.Namespace, out: Output) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise ApiError(
            f"{path} is not a file: give the output of `docker save` or a zip of code (-f)."
        )
    try:
        kind = artifact_kind(path)
    except (NotAnArtifact, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise ApiError(f"{exc} Nothing was uploaded.") from exc
    progress = ProgressBar(path.stat().st_size, label=f"Uploading {path.name}", stream=out.err)
    created = submit_image(
        api,
        args.competition,
        path,
        description=args.message or "",
        debug=args.debug,
        progress=progress,
        kind=kind,
        runtime_image=args.runtime_image or "",
    )
    reused = (
        " (the server already had this file: nothing uploaded)" if created.get("reused") else ""
    )
    # Which image code runs on: the one named, else the competition's default (not ours).
    runtime = f" (code on {created['runtime_image']})" if created.get("runtime_image") else ""
    out.say(f"Submission {created['id']} {created['status']}{runtime}{reused}.")
    if args.wait:
        return _wait(api, created["id"], args.interval, out)
    return 0


def _status_word(submission: dict[str, Any]) -> str:
    """The status as the site words it: a debug run that ended well was validated, not
    scored against hidden labels, so it is "checked" (the API's status stays "scored")."""
    if submission.get("status_display"):
        return str(submission["status_display"]).lower()
    if submission.get("is_debug") and submission.get("status") == "scored":
        return "checked"  # a server older than status_display
    return str(submission.get("status"))


def competition_submissions(api: Api, args: argparse.Namespace, out: Output) -> int:
    rows = list(api.paged(f"/api/v1/competitions/{args.competition}/submissions/"))
    for row in rows:
        row["selected"] = "yes" if row.get("is_selected") else ""
        if row.get("is_debug"):
            row["status"] = f"{_status_word(row)} (debug)"
        # Why a run failed, not only that it did: the kind, then the server's message.
        if row.get("failure_kind"):
            row["failure"] = f"{row['failure_kind']}: {row.get('failure_message') or ''}".strip()
    columns = [
        "id",
        "created_at",
        "description",
        "status",
        "failure",
        "public_score",
        "private_score",
        "selected",
    ]
    table(out, rows, columns, args.csv)
    return 0


LEADERBOARD_COLUMNS = ["rank", "team", "score", "submissions", "last_submission"]


def competition_leaderboard(api: Api, args: argparse.Namespace, out: Output) -> int:
    base = f"/api/v1/competitions/{args.competition}/leaderboard/"
    if args.download:
        # The whole board, streamed by the server as CSV (any number of teams).
        root = Path(args.path or ".")
        root.mkdir(parents=True, exist_ok=True)
        target = root / f"{args.competition}-{args.kind}-leaderboard.csv"
        response = api.request("GET", base + "csv/", params={"kind": args.kind}, stream=True)
        with target.open("wb") as handle:
            for chunk in response.iter_content(chunk_size=1 << 16):
                handle.write(chunk)
        out.say(str(target))
    if args.show or not args.download:
        board = api.get(base, params={"kind": args.kind})
        entries = board["entries"]
        own = board.get("own")
        if own and all(e.get("rank") != own.get("rank") for e in entries):
            entries = [*entries, own]
        # The competition's additional metrics (shown, never ranked), one column each.
        names = [m["name"] for m in board.get("additional_metrics") or []]
        for entry in entries:
            entry.update({n: (entry.get("additional_scores") or {}).get(n) for n in names})
        table(out, entries, [*LEADERBOARD_COLUMNS[:3], *names, *LEADERBOARD_COLUMNS[3:]], args.csv)
    return 0


def competition_shakeup(api: Api, args: argparse.Namespace, out: Output) -> int:
    moves = api.get(f"/api/v1/competitions/{args.competition}/leaderboard/shakeup/")
    if not args.csv:
        for move in moves:
            delta = move.get("delta")
            move["delta"] = "" if delta is None else f"{delta:+d}" if delta else "0"
    table(out, moves, ["private_rank", "public_rank", "team", "delta"], args.csv)
    return 0


# Teams


def _print_team(out: Output, team: dict[str, Any]) -> None:
    quota = team.get("quota") or {}
    lines = [
        ("team", team["name"]),
        ("competition", team.get("competition")),
        ("members", ", ".join(m["username"] for m in team.get("members", []))),
        (
            "today",
            f"{quota.get('used')} of {quota.get('limit')} submissions used, "
            f"{quota.get('remaining')} left; resets at {quota.get('resets_at')}",
        ),
    ]
    if quota.get("total_limit") is not None:
        lines.append(("total", f"{quota.get('total_used')} of {quota['total_limit']} used"))
    if quota.get("max_concurrent") is not None:
        lines.append(("running", f"{quota.get('running')} of {quota['max_concurrent']} at once"))
    if quota.get("next_allowed_at"):
        lines.append(("next_allowed_at", quota["next_allowed_at"]))
    for label, value in lines:
        out.say(f"{label + ':':<18} {_cell(value)}")


def competition_team(api: Api, args: argparse.Namespace, out: Output) -> int:
    path = f"/api/v1/competitions/{args.competition}/team/"
    if args.rename is not None:
        team = api.patch(path, json={"name": args.rename})
        out.note(f"Team renamed to {team['name']!r}.")
    else:
        team = api.get(path)
    _print_team(out, team)
    return 0


def competition_invite(api: Api, args: argparse.Namespace, out: Output) -> int:
    invitation = api.post(
        f"/api/v1/competitions/{args.competition}/team/invitations/",
        json={"username": args.username},
    )
    out.say(
        f"Invitation {invitation['id']} sent to {invitation['invitee']} "
        f"to join team {invitation['team']!r}."
    )
    return 0


INVITATION_COLUMNS = ["id", "direction", "team", "invitee", "invited_by", "status", "created_at"]


def competition_invitations(api: Api, args: argparse.Namespace, out: Output) -> int:
    sent = api.get(f"/api/v1/competitions/{args.competition}/team/invitations/")
    received = api.get("/api/v1/invitations/", params={"competition": args.competition})
    for row in sent:
        row["direction"] = "sent"
    for row in received:
        row["direction"] = "received"
    table(out, sent + received, INVITATION_COLUMNS, args.csv)
    return 0


def invitation(api: Api, args: argparse.Namespace, out: Output) -> int:
    answer = api.post(f"/api/v1/invitations/{args.id}/respond/", json={"accept": args.accept})
    if answer["status"] == "accepted":
        out.say(
            f"Invitation {args.id} accepted: you are now in team {answer['team']!r} "
            f"of {answer['competition']}."
        )
    else:
        out.say(f"Invitation {args.id} {answer['status']}.")
    return 0


SUBMISSION_FIELDS = [
    "id",
    "competition",
    "team",
    "user",
    "created_at",
    "description",
    "status",
    "queue_position",
    "failure_kind",
    "failure_message",
    "public_score",
    "private_score",
    "is_selected",
    "is_debug",
    "is_late",
    "duration_seconds",
    "cpu_seconds",
    "peak_memory_bytes",
    "exit_code",
    "exit_status",
    "note",
]


def _print_additional(out: Output, submission: dict[str, Any]) -> None:
    """The additional metrics' scores (shown, never ranked), after the private score."""
    for part in ("public", "private"):
        for name, value in (submission.get(f"{part}_additional_scores") or {}).items():
            shown = "not computable" if value is None else _cell(value)
            out.say(f"{f'{name} ({part}):':<18} {shown}")


def _print_submission(out: Output, submission: dict[str, Any]) -> None:
    for field in SUBMISSION_FIELDS:
        value = submission.get(field)
        if field == "is_selected":  # the score lines end here
            _print_additional(out, submission)
        if value in (None, "") and field not in ("status", "public_score"):
            continue
        if field == "status":
            value = _status_word(submission)
        if field == "peak_memory_bytes" and value is not None:
            value = human_size(value)
        if field == "public_score" and submission.get("public_rank"):
            value = (
                f"{_cell(value)} (rank {submission['public_rank']} of "
                f"{submission['public_rank_teams']} teams on the public leaderboard)"
            )
        out.say(f"{field + ':':<18} {_cell(value)}")


def _finish(submission: dict[str, Any], out: Output) -> int:
    if submission["status"] in UNSUCCESSFUL:
        kind = submission.get("failure_kind") or submission["status"]
        message = submission.get("failure_message") or "The submission was cancelled."
        out.note(
            f"podium: submission {submission['id']} {submission['status']} ({kind}): {message}"
        )
        return 1
    return 0


def _wait(
    api: Api,
    pk: int,
    interval: float,
    out: Output,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    last = None
    while True:
        submission = api.get(f"/api/v1/submissions/{pk}/")
        state = (submission["status"], submission.get("queue_position"))
        if state != last:
            where = f" (position {state[1]} in the queue)" if state[1] else ""
            out.note(f"submission {pk}: {_status_word(submission)}{where}")
            last = state
        if submission["status"] in FINISHED:
            _print_submission(out, submission)
            return _finish(submission, out)
        sleep(interval)


def submission(api: Api, args: argparse.Namespace, out: Output) -> int:
    pk = args.id
    if args.rerun:
        created = api.post(f"/api/v1/submissions/{pk}/rerun/", json={"debug": args.debug})
        what = "debug run" if args.debug else "submission"
        out.say(f"Submission {pk} runs again as {what} {created['id']} ({created['status']}).")
        pk = created["id"]
    elif args.debug:
        raise ApiError("--debug goes with --rerun: `podium submission ID --rerun --debug`.")
    if args.cancel:
        api.post(f"/api/v1/submissions/{pk}/cancel/")
        out.note(f"Submission {pk} cancelled.")
    if args.select is not None:
        api.post(f"/api/v1/submissions/{pk}/select/", json={"selected": args.select})
        out.note(f"Submission {pk} {'selected as final' if args.select else 'unselected'}.")
    if args.log:
        try:
            out.say(api.get(f"/api/v1/submissions/{pk}/log/")["log"])
        except ApiError as exc:
            if exc.status != 403:
                raise
            # The server names its own field; say it with this client's flags.
            slug = api.get(f"/api/v1/submissions/{pk}/").get("competition") or "COMP"
            raise ApiError(
                f"{exc.message} With this client: podium competitions submit {slug} "
                "-f IMAGE --debug"
            ) from exc
        return 0
    if args.wait:
        return _wait(api, pk, args.interval, out)
    body = api.get(f"/api/v1/submissions/{pk}/")
    _print_submission(out, body)
    if args.cancel or body["status"] not in FINISHED:
        return 0
    return _finish(body, out)


# Arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium",
        description="Podium's command line: competitions, data, submissions, leaderboards. "
        "Server and token: PODIUM_URL / PODIUM_TOKEN or ~/.podium/config.json.",
    )
    parser.add_argument("--version", action="version", version=f"podium {__version__}")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")

    comps = groups.add_parser("competitions", aliases=["c"], help="competitions and their data")
    commands = comps.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Any, help_text: str, slug: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if slug:
            sub.add_argument("competition", metavar="COMP", help="the competition's slug")
        sub.set_defaults(handler=handler)
        return sub

    listing = add("list", competitions_list, "list competitions", slug=False)
    listing.add_argument("-s", "--search", help="only those whose slug or title has this")
    listing.add_argument("-v", "--csv", action="store_true", help="print CSV")

    add("files", competition_files, "list a competition's downloadable data files").add_argument(
        "-v", "--csv", action="store_true", help="print CSV"
    )

    download = add("download", competition_download, "download a competition's data files")
    download.add_argument("-p", "--path", help="folder to write into (default: here)")
    download.add_argument("-f", "--file", help="only this file (a name from `files`)")

    add("join", competition_join, "accept a competition's rules and get a team")

    submit = add(
        "submit",
        competition_submit,
        "submit an image archive (`docker save` output) or a code archive (zip/tar.gz with "
        "main.py or run.sh at its root); a file the server already keeps is not sent again",
    )
    submit.add_argument(
        "-f", "--file", required=True, help="image.tar, image.tar.gz, code.zip or code.tar.gz"
    )
    submit.add_argument(
        "--runtime-image",
        metavar="NAME",
        help="for code: the image it runs on; default: the competition's default runtime image "
        "(listed first on its Data page)",
    )
    submit.add_argument("-m", "--message", default="", help="a description of this submission")
    submit.add_argument(
        "--debug", action="store_true", help="a debug run: public sample, full log, not ranked"
    )
    submit.add_argument("--wait", action="store_true", help="wait until it is scored or failed")
    submit.add_argument("--interval", type=float, default=10.0, help=argparse.SUPPRESS)

    add("submissions", competition_submissions, "list your team's submissions").add_argument(
        "-v", "--csv", action="store_true", help="print CSV"
    )

    board = add("leaderboard", competition_leaderboard, "show or download a leaderboard")
    board.add_argument("--show", action="store_true", help="print it (the default)")
    board.add_argument("--download", action="store_true", help="write it to a CSV file")
    board.add_argument("-p", "--path", help="folder for --download (default: here)")
    board.add_argument("--kind", choices=["public", "private"], default="public")
    board.add_argument("-v", "--csv", action="store_true", help="print CSV")

    add(
        "shakeup", competition_shakeup, "public -> private rank moves, after the reveal"
    ).add_argument("-v", "--csv", action="store_true", help="print CSV")

    team = add("team", competition_team, "your team: name, members, submission quota")
    team.add_argument("--rename", metavar="NAME", help="give your team this name")

    invite = add("invite", competition_invite, "invite a participant into your team")
    invite.add_argument("username", metavar="USERNAME", help="who (they must have joined)")

    add(
        "invitations", competition_invitations, "pending invitations your team sent or you got"
    ).add_argument("-v", "--csv", action="store_true", help="print CSV")

    one = groups.add_parser("submission", aliases=["s"], help="one submission: status, log, …")
    one.add_argument("id", type=int, metavar="ID")
    one.add_argument("--wait", action="store_true", help="poll until it finishes; exit 1 if failed")
    one.add_argument("--interval", type=float, default=10.0, help="seconds between polls (10)")
    one.add_argument("--log", action="store_true", help="print its log, where visible")
    one.add_argument("--cancel", action="store_true", help="cancel it while queued or running")
    one.add_argument(
        "--rerun", action="store_true", help="run its image or code again, without uploading it"
    )
    one.add_argument("--debug", action="store_true", help="with --rerun: as a debug run")
    choose = one.add_mutually_exclusive_group()
    choose.add_argument(
        "--select", dest="select", action="store_const", const=True, help="make it final"
    )
    choose.add_argument(
        "--unselect", dest="select", action="store_const", const=False, help="drop it as final"
    )
    one.set_defaults(handler=submission)

    invited = groups.add_parser("invitation", help="answer an invitation into a team")
    invited.add_argument("id", type=int, metavar="ID", help="its id (see `invitations COMP`)")
    answer = invited.add_mutually_exclusive_group(required=True)
    answer.add_argument(
        "--accept", dest="accept", action="store_const", const=True, help="join the team"
    )
    answer.add_argument(
        "--decline", dest="accept", action="store_const", const=False, help="say no"
    )
    invited.set_defaults(handler=invitation)
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot raise again
    (the recipe in the Python docs' note on SIGPIPE)."""
    try:
        fileno = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing will flush to a pipe
    os.dup2(os.open(os.devnull, os.O_WRONLY), fileno)


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run one command; 0 on success, 1 on any error (printed as one line), 2 on usage."""
    out = Output(stdout, stderr)
    args = build_parser().parse_args(argv)
    try:
        api = Api(load_config())
        return int(args.handler(api, args, out))
    except (ApiError, ConfigError) as exc:
        out.note(f"podium: error: {exc}")
        return 1
    except requests.RequestException as exc:
        out.note(f"podium: error: the connection to the server broke ({exc}); try again.")
        return 1
    except BrokenPipeError:
        # The reader went away (``podium leaderboard | head``): not an error to report.
        _silence_stdout()
        return 141
    except OSError as exc:
        out.note(f"podium: error: {exc}")
        return 1
    except KeyboardInterrupt:
        out.note("podium: interrupted")
        return 130
