"""Code archives: every attack refused from the archive's directory, before extraction.

No containers: these are the checks of sandbox.code alone. The runs are in
tests/competitions/test_code_submissions.py.
"""

from __future__ import annotations

import gzip
import io
import json
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from sandbox.code import (
    CodeLimits,
    InvalidCode,
    NotAnArchive,
    classify_upload,
    extract_code,
    inspect_code,
)

MAIN = b"print('hi')\n"


def _zip(path: Path, members: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, stat.S_IFREG | 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes, int]]) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith(".gz") else "w") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
                continue
            name, data, mode = member
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    return path


def _refused(path: Path, dest: Path, match: str, limits: CodeLimits | None = None) -> None:
    """Refused by the check alone, and extraction never starts (dest is never created)."""
    with pytest.raises(InvalidCode, match=match):
        inspect_code(path, limits)
    with pytest.raises(InvalidCode, match=match):
        extract_code(path, dest, limits)
    assert not dest.exists()


def test_zip_with_main_py_is_extracted_readable_with_python_entry_point(tmp_path: Path) -> None:
    path = _zip(tmp_path / "code.zip", {"main.py": MAIN, "lib/util.py": b"X = 1\n"})
    checked = extract_code(path, tmp_path / "out")
    assert checked.entry_point == "main.py"
    assert checked.command == ["python3", "/code/main.py"]
    assert (tmp_path / "out" / "main.py").read_bytes() == MAIN
    assert stat.S_IMODE((tmp_path / "out" / "lib" / "util.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "out" / "lib").stat().st_mode) == 0o755


def test_tar_gz_with_executable_run_sh_wins_over_main_py(tmp_path: Path) -> None:
    path = _tar(
        tmp_path / "code.tar.gz",
        [("./run.sh", b"#!/bin/sh\npython3 main.py\n", 0o755), ("./main.py", MAIN, 0o644)],
    )
    checked = extract_code(path, tmp_path / "out")
    assert checked.entry_point == "run.sh"
    assert checked.command == ["/code/run.sh"]
    assert stat.S_IMODE((tmp_path / "out" / "run.sh").stat().st_mode) == 0o755


def test_run_sh_that_is_not_executable_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = _tar(tmp_path / "code.tar.gz", [("run.sh", b"echo\n", 0o644)])
    _refused(path, tmp_path / "out", r"chmod \+x run.sh")


def test_entry_point_inside_a_folder_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = _zip(tmp_path / "code.zip", {"project/main.py": MAIN})
    _refused(path, tmp_path / "out", "It has project/main.py: archive the folder's contents")


@pytest.mark.parametrize("name", ["../evil.py", "lib/../../evil.py"])
def test_traversal_is_refused_in_zip_and_tar(tmp_path: Path, name: str) -> None:
    _refused(_zip(tmp_path / "a.zip", {"main.py": MAIN, name: b"x"}), tmp_path / "o1", "leaves")
    tar = _tar(tmp_path / "a.tar.gz", [("main.py", MAIN, 0o644), (name, b"x", 0o644)])
    _refused(tar, tmp_path / "o2", "leaves its folder")


def test_absolute_paths_are_refused(tmp_path: Path) -> None:
    tar = _tar(tmp_path / "a.tar", [("main.py", MAIN, 0o644), ("/etc/cron.d/x", b"x", 0o644)])
    _refused(tar, tmp_path / "o1", "absolute path")
    _refused(_zip(tmp_path / "a.zip", {"main.py": MAIN, "/abs.py": b"x"}), tmp_path / "o2", "abs")


def test_symlinks_hardlinks_and_devices_are_refused(tmp_path: Path) -> None:
    for i, (kind, what) in enumerate(
        [(tarfile.SYMTYPE, "a link"), (tarfile.LNKTYPE, "a link"), (tarfile.CHRTYPE, "device")]
    ):
        info = tarfile.TarInfo("data")
        info.type, info.linkname = kind, "/etc/passwd"
        tar = _tar(tmp_path / f"a{i}.tar.gz", [("main.py", MAIN, 0o644), info])
        _refused(tar, tmp_path / f"o{i}", what)
    link = _zip(
        tmp_path / "l.zip",
        {"main.py": MAIN, "data": b"/etc/passwd"},
        modes={"data": stat.S_IFLNK | 0o777},
    )
    _refused(link, tmp_path / "oz", "is a link")


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    members = {"main.py": MAIN, **{f"f{i}.txt": b"" for i in range(20)}}
    limits = CodeLimits(max_members=10)
    _refused(_zip(tmp_path / "a.zip", members), tmp_path / "o", "more than 10 members", limits)


def test_decompression_bombs_are_refused_before_extraction(tmp_path: Path) -> None:
    # A zip member of 50 MB of zeros (a ratio of ~1000) and a tar.gz declaring more than
    # the unpacked bound: both refused from the directory/headers alone.
    zip_bomb = _zip(tmp_path / "z.zip", {"main.py": MAIN, "zeros": b"\0" * (50 << 20)})
    _refused(zip_bomb, tmp_path / "o1", "decompression bomb")
    tar_bomb = _tar(tmp_path / "t.tar.gz", [("main.py", MAIN, 0o644), ("z", b"\0" * 4096, 0o644)])
    _refused(tar_bomb, tmp_path / "o2", "unpacks to more than", CodeLimits(max_unpacked_bytes=1000))


def test_zip_that_lies_about_its_sizes_stops_at_the_bound(tmp_path: Path) -> None:
    """Declared sizes pass the check; the bytes actually written are counted too."""
    path = _zip(tmp_path / "z.zip", {"main.py": MAIN, "big": b"ab" * 5000})
    raw = bytearray(path.read_bytes())
    # Patch the central directory's uncompressed size of "big" down to 10 bytes.
    index = raw.rfind(b"PK\x01\x02")
    while raw[index + 46 : index + 49] != b"big":
        index = raw.rfind(b"PK\x01\x02", 0, index)
    raw[index + 24 : index + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidCode):
        extract_code(path, tmp_path / "out", CodeLimits(max_unpacked_bytes=1000))


def test_archive_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "a.zip", {"main.py": MAIN})
    _refused(path, tmp_path / "o", "the limit is", CodeLimits(max_archive_bytes=10))


def test_classify_upload_tells_images_code_and_neither_from_the_bytes(tmp_path: Path) -> None:
    image = _tar(tmp_path / "image.tar", [("manifest.json", json.dumps([]).encode(), 0o644)])
    assert classify_upload(image) == "image"
    code = _tar(tmp_path / "code.tar.gz", [("main.py", MAIN, 0o644)])
    assert classify_upload(code) == "code"
    assert classify_upload(_zip(tmp_path / "c.zip", {"main.py": MAIN})) == "code"
    csv = tmp_path / "predictions.csv"
    csv.write_text("id,label\n1,2\n")
    with pytest.raises(NotAnArchive, match="first bytes"):
        classify_upload(csv)
    gz = tmp_path / "p.csv.gz"
    gz.write_bytes(gzip.compress(b"id,label\n1,2\n"))
    with pytest.raises(NotAnArchive, match="holds no tar"):
        classify_upload(gz)
    sources = _tar(tmp_path / "src.tar.gz", [("src/model.py", MAIN, 0o644)])
    with pytest.raises(NotAnArchive, match="neither an image"):
        classify_upload(sources)


def test_a_file_where_a_folder_must_be_and_duplicates_are_refused(tmp_path: Path) -> None:
    clash = _tar(
        tmp_path / "a.tar",
        [("main.py", MAIN, 0o644), ("lib", b"x", 0o644), ("lib/x.py", b"", 0o644)],
    )
    _refused(clash, tmp_path / "o1", "both as a file and as a folder")
    twice = _tar(tmp_path / "b.tar", [("main.py", MAIN, 0o644), ("main.py", b"evil", 0o644)])
    _refused(twice, tmp_path / "o2", "two members named main.py")
