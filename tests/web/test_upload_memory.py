"""A 2 GB upload through the chunked path leaves the web server's memory flat.

The platform runs under gunicorn (one sync worker) on 127.0.0.1; the test sends 2 GiB
of zeros in 64 MiB chunks, the largest the protocol allows, and compares the worker's
peak resident memory (VmHWM) before and after.
"""

from __future__ import annotations

from pathlib import Path

import requests
from factories import CompetitionFactory, MembershipFactory
from rest_framework.authtoken.models import Token

from uploads.models import Upload

SIZE = 2 * 1024**3
CHUNK = 64 * 1024 * 1024


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_2_gb_upload_does_not_grow_the_web_process_by_the_file(serve) -> None:
    member = MembershipFactory(
        team__competition=CompetitionFactory(slug="big", image_size_limit_bytes=4 * 1024**3)
    )
    token = Token.objects.create(user=member.user)
    server = serve("--workers", "1")
    (pid,) = server.worker_pids()
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token.key}"

    # Warm up: load every module the upload path uses before the first reading.
    warm = api.post(
        f"{server.url}/api/v1/uploads/", json={"filename": "w.tar", "size": 1, "competition": "big"}
    ).json()
    api.patch(
        f"{server.url}/api/v1/uploads/{warm['id']}/",
        data=b"x",
        headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    ).raise_for_status()
    before = peak_rss(pid)

    created = api.post(
        f"{server.url}/api/v1/uploads/",
        json={"filename": "image.tar", "size": SIZE, "competition": "big"},
    )
    assert created.status_code == 201, created.text
    upload_id = created.json()["id"]
    zeros = bytes(CHUNK)
    offset = 0
    while offset < SIZE:
        response = api.patch(
            f"{server.url}/api/v1/uploads/{upload_id}/",
            data=zeros,
            headers={
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert response.status_code == 200, response.text
        offset = response.json()["offset"]
    after = peak_rss(pid)

    upload = Upload.objects.get(pk=upload_id)
    assert response.json() == {"offset": SIZE, "complete": True}
    assert upload.path.stat().st_size == SIZE
    growth = after - before
    print(
        f"\n2 GiB upload in {SIZE // CHUNK} chunks of 64 MiB: gunicorn worker peak RSS "
        f"{before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after, "
        f"growth {growth / 2**20:.1f} MiB ({growth / SIZE:.2%} of the file)"
    )
    assert growth < 32 * 1024 * 1024, "the body was buffered instead of streamed"
    upload.path.unlink()
