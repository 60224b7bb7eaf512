"""/api/projetos/{id}/arquivos: project files, uploaded and downloaded as streams.

Uploads lift the app's 10 MiB body limit for this route only (to the storage's per-file limit),
and are not idempotent: replaying one would mean holding the whole body."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from litestar import Router, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from tesserra_adapters.uploads import DRAIN_LIMIT, MULTIPART_SLACK, MultipartFile, RequestBody, content_disposition
from tesserra_core.domain.files import FILENAME_PATTERN, FILENAME_RULE
from tesserra_core.domain.files import MAX_NAME as MAX_FILENAME
from tesserra_core.domain.paging import Page
from tesserra_core.errors import PayloadTooLarge, TesserraError, Unprocessable
from tesserra_core.facade import UseCases
from tesserra_core.usecases.files import (
    DeleteProjectFile,
    DownloadProjectFile,
    ListProjectFiles,
    ProjectFileView,
    Upload,
    UploadProjectFile,
)
from tesserra_core.usecases.guards import CONSOLE
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging


def _download(route: dict[str, Any]) -> dict[str, Any]:
    """A download's 200 names no media type: its body is the file, under the Content-Type it was stored with
    (application/octet-stream when it had none), which need not be what its bytes hold."""
    route["responses"][200] = ResponseSpec(
        data_container=None,
        description="The file's bytes, with the Content-Type it was uploaded with (application/octet-stream "
        "when none), Content-Disposition: attachment, Repr-Digest (SHA-256) and ETag.",
    )
    return route


def routes(uc: UseCases) -> Router:
    largest = uc.ports.file_storage.max_object_bytes

    @get("/{project_id:str}/arquivos", **declare(uses=ListProjectFiles, rate_limit=CONSOLE, errors=(400, 403, 404)))
    async def list_project_files(project_id: FromPath[str], request: Caller, page: Paging) -> Page[ProjectFileView]:
        return await uc.files.list(request.user, project_id, page)

    @post(
        "/{project_id:str}/arquivos",
        status_code=201,
        request_max_body_size=None,  # this route reads the body itself, counting every byte (see below)
        **declare(
            uses=UploadProjectFile,
            rate_limit=CONSOLE,
            errors=(400, 402, 403, 404, 409, 413, 422),
            description=(
                "The body: ``multipart/form-data`` (the first part with a filename), or any other body with "
                "``?filename=`` (422 filename_required without it). Past the per-file limit it answers 413, past "
                "the plan's ``storage_bytes`` 402."
            ),
        ),
    )
    async def upload_project_file(
        project_id: FromPath[str],
        request: Caller,
        filename: Annotated[
            str | None,
            QueryParameter(
                description=f"The file's name, for a raw (non-multipart) body. {FILENAME_RULE}",
                min_length=1,
                max_length=MAX_FILENAME,
                pattern=FILENAME_PATTERN,
            ),
        ] = None,
    ) -> ProjectFileView:
        content_type = request.headers.get("content-type", "")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > largest + MULTIPART_SLACK:
            # Refused before reading a byte; the server closes the connection after answering.
            raise PayloadTooLarge(
                f"the file is larger than the {largest} bytes one upload may store", code="file_too_large"
            )
        body = RequestBody(request.receive)
        try:
            if content_type.lower().startswith("multipart/form-data"):
                upload = await MultipartFile(body, content_type).open()
            elif filename is None:
                # Which parameters a body needs depends on its type: a semantic rule (422), as documented.
                raise Unprocessable("filename: a raw upload needs ?filename=", code="filename_required")
            else:
                upload = Upload(filename, content_type or None, body)
            return await uc.files.upload(request.user, project_id, upload)
        except TesserraError:
            await body.drain(DRAIN_LIMIT)
            raise

    @get(
        "/{project_id:str}/arquivos/{file_id:str}",
        **_download(declare(uses=DownloadProjectFile, rate_limit=CONSOLE, errors=(403, 404))),
    )
    async def download_project_file(project_id: FromPath[str], file_id: FromPath[str], request: Caller) -> Stream:
        download = await uc.files.download(request.user, project_id, file_id)
        f = download.file
        digest = base64.b64encode(bytes.fromhex(f.sha256)).decode()
        headers = {
            "Content-Disposition": content_disposition(f.name),
            "Content-Length": str(f.size),
            "X-Content-Type-Options": "nosniff",
            "Repr-Digest": f"sha-256=:{digest}:",
            "ETag": f'"{f.sha256}"',
        }
        return Stream(download.chunks, media_type=f.content_type or "application/octet-stream", headers=headers)

    @delete(
        "/{project_id:str}/arquivos/{file_id:str}",
        status_code=204,
        **declare(uses=DeleteProjectFile, rate_limit=CONSOLE, errors=(403, 404)),
    )
    async def delete_project_file(project_id: FromPath[str], file_id: FromPath[str], request: Caller) -> None:
        await uc.files.delete(request.user, project_id, file_id)

    handlers = [list_project_files, upload_project_file, download_project_file, delete_project_file]
    return Router("/api/projetos", tags=["Arquivos"], route_handlers=handlers)
