"""Documents in an S3-compatible object store (a real SeaweedFS started here): encrypted, by member, once.

The same API, the same checks and the same encryption as on the file system;
only where the encrypted objects go changes (``KYODO_BLOB_URL``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from consortium.demo import seed_database
from core.blobstore import ObjectStoreBackend, backend_for
from core.scope import elevated
from core.settings import BlobSettings, Settings
from kyodo.app import create_app
from kyodo.backup import BackupError, create_backup, restore_backup
from onboarding.leaving import delete_member
from signing.blobs import BlobStore
from signing.exit import ExportOptions, write_export
from tenants.models import MemberStatus
from tests import factories as f
from tests.conftest import _create_database, _drop_database, _session_maker
from tests.kyodo.test_backup import DOCUMENT, _read_document, _store_document, _with
from tests.objectstore import ObjectStore, running_seaweedfs
from tests.signing.conftest import Office


@pytest.fixture(scope="module")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


@pytest.fixture
def empty_database(admin_url: str) -> Iterator[str]:
    name = f"kyodo_restore_{uuid.uuid4().hex[:10]}"
    url = _create_database(admin_url, name)
    yield url
    _drop_database(admin_url, name)


@pytest.fixture
def s3_settings(settings: Settings, object_store: ObjectStore, tmp_path: Path) -> Settings:
    return dataclasses.replace(
        settings,
        app=dataclasses.replace(settings.app, data_dir=tmp_path / "data"),
        blobs=BlobSettings(
            url=f"s3://kyodo-docs/{tmp_path.name}",
            s3_endpoint=object_store.endpoint,
            s3_region="ap-northeast-1",
            s3_access_key_id=object_store.access_key,
            s3_secret_access_key=object_store.secret_key,
        ),
    )


@pytest.fixture
async def s3_client(s3_settings: Settings, db_connection: AsyncConnection) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(s3_settings, session_maker=_session_maker(db_connection))
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_an_uploaded_pdf_lives_encrypted_in_the_bucket_and_downloads_unchanged(
    s3_client: AsyncTestClient[Litestar], s3_settings: Settings, office: Office
) -> None:
    pdf = f.pdf(2)
    created = await s3_client.post(
        "/api/v1/contracts/",
        headers={"Authorization": f"Bearer {office.key_a}"},
        data={"subject": "業務委託契約", "title_id": str(office.title_a.id)},
        files=[("files", ("契約書.pdf", pdf, "application/pdf"))],
    )
    assert created.status_code == 201, created.text
    body = created.json()
    sha = body["documents"][0]["sha256"]

    backend = backend_for(s3_settings)
    assert isinstance(backend, ObjectStoreBackend)
    key = BlobStore.key(office.members.a.id, sha)
    assert await backend.keys(f"{office.members.a.id}/") == [key], "one object, under the member's prefix"
    stored = await backend.read(key)
    assert stored is not None
    assert b"%PDF" not in stored, "encrypted at rest"
    assert not (s3_settings.app.data_dir / "blobs").exists(), "nothing written to the local disk"

    download = await s3_client.get(
        f"/api/v1/contracts/{body['id']}/documents/{body['documents'][0]['id']}",
        headers={"Authorization": f"Bearer {office.key_a}"},
    )
    assert download.status_code == 200, download.text
    assert download.content == pdf


async def test_objects_are_stored_once_per_member_and_deleted_by_member(
    s3_settings: Settings, db_session: AsyncSession, office: Office
) -> None:
    store = BlobStore(s3_settings)
    a, b = office.members.a.id, office.members.b.id
    async with elevated(db_session):
        first = await store.put(db_session, a, b"%PDF-1.7 same content")
        again = await store.put(db_session, a, b"%PDF-1.7 same content")
        other = await store.put(db_session, b, b"%PDF-1.7 same content")
        assert first == again == other
        assert len(await store.member_objects(a)) == 1, "content addressing: one object for the same file"
        assert len(await store.member_objects(b)) == 1, "each member has its own copy under its own key"
        assert await store.get(db_session, b, other) == b"%PDF-1.7 same content"

        deleted, size = await store.delete_member(a)
        assert deleted == 1
        assert size > 0
        assert await store.member_objects(a) == []
        assert len(await store.member_objects(b)) == 1, "another member's objects stay"


async def test_a_bucket_installation_is_backed_up_and_restored_into_another_prefix(
    fresh_database: Settings, empty_database: str, admin_url: str, object_store: ObjectStore, tmp_path: Path
) -> None:
    def bucket(settings: Settings, prefix: str) -> Settings:
        return dataclasses.replace(
            settings,
            blobs=BlobSettings(
                url=f"s3://kyodo-docs/{tmp_path.name}-{prefix}",
                s3_endpoint=object_store.endpoint,
                s3_access_key_id=object_store.access_key,
                s3_secret_access_key=object_store.secret_key,
            ),
        )

    source = bucket(_with(fresh_database, tmp_path / "source", fresh_database.database.admin_url), "source")
    await seed_database(source.database.admin_url)
    member_id, sha = await _store_document(source)
    folder = await asyncio.to_thread(create_backup, source, tmp_path / "backups")
    target = bucket(_with(fresh_database, tmp_path / "target", empty_database), "target")
    await asyncio.to_thread(restore_backup, target, folder)
    assert await _read_document(target, member_id, sha) == DOCUMENT
    assert await backend_for(target).keys("") == await backend_for(source).keys("")
    # A bucket prefix that already holds documents is refused before anything is restored.
    name = f"kyodo_restore_{uuid.uuid4().hex[:10]}"
    another = _create_database(admin_url, name)
    try:
        occupied = bucket(_with(fresh_database, tmp_path / "third", another), "source")
        with pytest.raises(BackupError, match="document store is not empty"):
            await asyncio.to_thread(restore_backup, occupied, folder)
    finally:
        _drop_database(admin_url, name)


async def test_a_leaving_member_s_objects_are_exported_and_then_deleted_from_the_bucket(
    s3_settings: Settings, db_session: AsyncSession, office: Office, tmp_path: Path
) -> None:
    store = BlobStore(s3_settings)
    a, b = office.members.a, office.members.b
    async with elevated(db_session):
        sha = await store.put(db_session, a.id, b"%PDF-1.7 leaving member's contract")
        await store.put(db_session, b.id, b"%PDF-1.7 staying member's contract")
        out = tmp_path / "export.zip"
        await write_export(db_session, a, out, s3_settings, ExportOptions(), by="test")
        with zipfile.ZipFile(out) as archive:
            # The export holds the member's objects, decrypted.
            assert archive.read(f"other_files/{sha}.pdf") == b"%PDF-1.7 leaving member's contract"
        a.status = MemberStatus.LEAVING
        await db_session.flush()  # the database function checks the stored stage
        report = await delete_member(db_session, a, s3_settings, by="test")
    assert report.blob_files == 1
    assert await store.member_objects(a.id) == []
    assert len(await store.member_objects(b.id)) == 1
