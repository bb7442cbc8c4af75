"""What a task may attach, checked without the network: count, types, schemes."""

from __future__ import annotations

import pytest

from shared.attachments.limits import (
    TOO_MANY,
    UNSUPPORTED,
    AttachmentLimitError,
    FileRef,
    check_limits,
)
from shared.attachments.refs import gcs_object
from shared.settings import TaskSettings

PNG = "image/png"


def settings(**overrides: object) -> TaskSettings:
    return TaskSettings(**overrides)  # type: ignore[arg-type]


def refs(*uris: str, mime: str = PNG) -> list[FileRef]:
    return [FileRef(f"attachments.{i}", uri, mime) for i, uri in enumerate(uris)]


def problem(files: list[FileRef], **overrides: object) -> AttachmentLimitError:
    with pytest.raises(AttachmentLimitError) as caught:
        check_limits(settings(**overrides), files, "attachments")
    return caught.value


@pytest.mark.usefixtures("default_settings_env")
def test_images_and_pdfs_in_cloud_storage_or_on_https_are_accepted() -> None:
    files = [
        FileRef("attachments.0", "gs://bucket/a/b.png", PNG),
        FileRef("attachments.1", "gs://my.bucket_1/scan%201.pdf", "application/pdf"),
        FileRef("attachments.2", "https://example.com/x.jpeg?sig=1", "image/jpeg"),
        FileRef("attachments.3", "https://example.com/y", "IMAGE/WEBP"),
        FileRef("messages.1.content.0", "gs://bucket/c.gif", "image/gif"),
    ]
    check_limits(settings(), files, "attachments")


@pytest.mark.usefixtures("default_settings_env")
def test_too_many_files_are_refused_naming_the_field_and_the_limit() -> None:
    error = problem(refs(*[f"gs://bucket/{i}.png" for i in range(3)]), max_attachments=2)
    assert (error.code, error.field) == (TOO_MANY, "attachments")
    assert "3 files" in error.reason and "limit is 2" in error.reason


@pytest.mark.usefixtures("default_settings_env")
def test_a_type_not_accepted_is_refused_naming_its_mime_type_field() -> None:
    files = [*refs("gs://bucket/a.png"), FileRef("attachments.1", "gs://bucket/a.mp4", "video/mp4")]
    error = problem(files)
    assert (error.code, error.field) == (UNSUPPORTED, "attachments.1.mime_type")
    assert "video/mp4" in error.reason and "application/pdf" in error.reason
    narrowed = problem(
        refs("gs://bucket/a.pdf", mime="application/pdf"), attachment_mime_types="image/png"
    )
    assert narrowed.field == "attachments.0.mime_type"


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "s3://bucket/a.png",
        "gs://Bucket/a.png",  # upper case: no such bucket name
        "gs://bucket",  # no object
        "gs://bucket/",
        "gs:///a.png",
        "http://example.com/a.png",  # http: only with the local-stack setting
        "https://user:pw@example.com/a.png",
        "https://example.com/a b.png",
        "data:image/png;base64,AAAA",
    ],
)
@pytest.mark.usefixtures("default_settings_env")
def test_schemes_and_shapes_other_than_gs_and_https_are_refused(uri: str) -> None:
    error = problem(refs(uri))
    assert (error.code, error.field) == (UNSUPPORTED, "attachments.0.uri")


@pytest.mark.usefixtures("default_settings_env")
def test_http_is_accepted_only_where_private_addresses_are() -> None:
    check_limits(settings(attachment_allow_private=True), refs("http://127.0.0.1:9/a"), "x")


def test_a_gs_uri_names_its_bucket_and_object() -> None:
    ref = gcs_object("gs://bucket/dir/scan%201.pdf")
    assert (ref.bucket, ref.name, ref.uri) == (
        "bucket",
        "dir/scan%201.pdf",
        "gs://bucket/dir/scan%201.pdf",
    )


def test_the_scheme_of_a_malformed_url_is_read_without_parsing_it() -> None:
    """A '[' in the host makes urlsplit raise; the scheme is still `https`, so the URL goes
    to its own check, which refuses it as not a valid URL (400, not 500)."""
    from shared.attachments.refs import scheme

    assert scheme("https://\u0106[q/a.pdf") == "https"
    assert scheme("GS://bucket/a.png") == "gs"
    assert scheme("no-scheme") == ""
