"""Archives whose unpacked size differs from their stored size, on the real engine.

The engine decompresses a compressed layer and expands a sparse file before any size
check after loading could refuse them: a 408 KB gzip layer became 942 MB on the engine's
disk. Each hostile archive here must be refused by the streaming scan, before the engine
sees a byte of it (``before_load`` is never called), with a message naming the fault.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest
from handmade_images import (
    declared_layer,
    gnu_sparse_layer,
    gnu_sparse_member,
    image_archive,
    layer,
    pax_sparse_layer,
)

import sandbox
from sandbox import InvalidImage

pytestmark = pytest.mark.docker

GB = 2**30
MB = 2**20
ZEROS = layer({"zeros": b"\0" * (8 * MB)})


def _refused(client: docker.DockerClient, archive: Path, match: str, **limits: int) -> str:
    """Load ``archive``; assert it is refused with ``match`` before the engine saw it."""
    recorded: list[str] = []
    limits.setdefault("max_size_bytes", GB)
    with pytest.raises(InvalidImage, match=match) as caught:
        sandbox.load_image(client, archive, before_load=recorded.append, **limits)
    assert recorded == [], "the archive reached the engine"
    return caught.value.message


@pytest.mark.parametrize("layout", ["legacy", "oci"])
def test_handmade_archive_loads_when_its_layer_is_plain(
    client: docker.DockerClient, tmp_path: Path, layout: str
) -> None:
    """The control: the hand-built archives below are refused for their attack alone."""
    image_id = image_archive(tmp_path / "image.tar", [(ZEROS, ZEROS)], layout=layout)
    try:
        loaded = sandbox.load_image(client, tmp_path / "image.tar", max_size_bytes=GB)
        assert loaded.image_id == image_id
    finally:
        sandbox.remove_image(client, image_id)


_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, compresslevel=1),
    "bzip2": lambda data: bz2.compress(data, compresslevel=1),
    "xz": lambda data: lzma.compress(data, preset=0),
    # No compressor in the standard library: the engine detects these by magic alone.
    "zstd": lambda data: b"\x28\xb5\x2f\xfd" + data[:4096],
    "lz4": lambda data: b"\x04\x22\x4d\x18" + data[:4096],
    # A zstd skippable frame first (magic 0x184D2A5?, little-endian), then the zstd frame.
    "zstd-skippable": lambda data: b"\x5a\x2a\x4d\x18" + b"\0" * 4 + data[:4096],
}


@pytest.mark.parametrize("layout", ["legacy", "oci"])
@pytest.mark.parametrize("kind", sorted(_COMPRESSORS))
def test_compressed_layer_is_refused_before_the_engine_unpacks_it(
    client: docker.DockerClient, tmp_path: Path, kind: str, layout: str
) -> None:
    stored = _COMPRESSORS[kind](ZEROS)
    image_id = image_archive(tmp_path / "bomb.tar", [(stored, ZEROS)], layout=layout)

    said = kind.split("-")[0]
    message = _refused(client, tmp_path / "bomb.tar", f"contains a {said}-compressed member")

    assert "docker save" in message and "never a layer inside it" in message
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(image_id)


def test_gzip_layer_is_refused_inside_a_gzip_archive(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    """Compressing the whole archive is allowed; a compressed layer inside it is not."""
    image_archive(tmp_path / "bomb.tar", [(gzip.compress(ZEROS, 1), ZEROS)])
    packed = tmp_path / "bomb.tar.gz"
    packed.write_bytes(gzip.compress((tmp_path / "bomb.tar").read_bytes(), 1))

    _refused(client, packed, "contains a gzip-compressed member")


@pytest.mark.parametrize("make", [gnu_sparse_layer, pax_sparse_layer], ids=["gnu", "pax"])
def test_layer_with_a_sparse_file_is_refused(
    client: docker.DockerClient, tmp_path: Path, make: Callable[[str, int], bytes]
) -> None:
    """512 bytes of data declared as a 400 MiB file: within the 1 GiB limit, still refused."""
    sparse = make("big", 400 * MB)
    image_archive(tmp_path / "sparse.tar", [(sparse, sparse)])

    message = _refused(client, tmp_path / "sparse.tar", r"contains a sparse file \('big'\)")

    assert "layer.tar" in message


def test_sparse_member_of_the_archive_itself_is_refused(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    extra = gnu_sparse_member("padding/layer.tar", 400 * MB)
    image_archive(tmp_path / "sparse.tar", [(ZEROS, ZEROS)], extra=extra)

    _refused(client, tmp_path / "sparse.tar", r"contains a sparse file \('padding/layer.tar'\)")


def test_layer_declaring_more_than_the_limit_is_refused_at_its_header(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    """A 3 KB archive whose layer declares a 64 MiB file: the size counts, not the bytes."""
    declared = declared_layer("huge", 64 * MB)
    image_archive(tmp_path / "declared.tar", [(declared, declared)])
    assert (tmp_path / "declared.tar").stat().st_size < 8192

    message = _refused(
        client,
        tmp_path / "declared.tar",
        "over the image size limit of 16 MB once unpacked",
        max_size_bytes=16 * MB,
    )

    assert "'huge' in the layer" in message and "64 MB" in message


def test_files_of_the_layers_count_towards_the_entry_limit(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    """A three-member archive whose one layer holds 60 empty files, against 50 entries."""
    many = layer({f"file-{index}": b"" for index in range(60)})
    image_archive(tmp_path / "many.tar", [(many, many)])

    _refused(
        client,
        tmp_path / "many.tar",
        r"more than 50 entries \(the entry limit, counting the files in its layers\)",
        max_entries=50,
    )


def test_truncated_layer_is_refused_before_loading(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    """A layer whose last file's data is cut short: the engine would fail halfway."""
    cut = ZEROS[: len(ZEROS) // 2]
    image_archive(tmp_path / "cut.tar", [(cut, ZEROS)])

    _refused(client, tmp_path / "cut.tar", r"layer '[0-9a-f]+/layer.tar' is not a readable tar")
