"""A real S3-compatible server on loopback for the PODIUM_STORAGE=s3 tests.

moto's ThreadedMotoServer (PyPI, ``moto[server]``) answers the S3 REST API over HTTP on
127.0.0.1: boto3 and django-storages talk to it exactly as to a bucket elsewhere, and it
refuses unsigned reads of private objects (403). MinIO is not packaged for Debian and
nothing from Docker Hub is reachable here, so it is the S3 server installable offline.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

BUCKET = "podium-test"
ACCESS_KEY = "podium-test-key"
SECRET_KEY = "podium-test-secret"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class S3Server:
    """One moto server and its bucket; ``prefix`` is where the platform's files go."""

    port: int = field(default_factory=_free_port)
    prefix: str = "podium"
    server: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.client().create_bucket(Bucket=BUCKET)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def env(self) -> dict[str, str]:
        """The platform's variables for this bucket (web, scoring worker)."""
        return {
            "PODIUM_STORAGE": "s3",
            "PODIUM_S3_BUCKET": BUCKET,
            "PODIUM_S3_ENDPOINT_URL": self.endpoint,
            "PODIUM_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "PODIUM_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "PODIUM_S3_REGION": REGION,
            "PODIUM_S3_PREFIX": self.prefix,
        }

    def storages(self, base: dict[str, Any]) -> dict[str, Any]:
        """``base`` (settings.STORAGES) with the default storage in this bucket, as
        podium/settings.py builds it from :meth:`env`."""
        return {
            **base,
            "default": {
                "BACKEND": "podium.storage.PrivateS3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "endpoint_url": self.endpoint,
                    "access_key": ACCESS_KEY,
                    "secret_key": SECRET_KEY,
                    "region_name": REGION,
                    "location": self.prefix,
                    "addressing_style": None,
                    "signature_version": "s3v4",
                },
            },
        }

    def object_keys(self) -> list[str]:
        """Every object key in the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]
