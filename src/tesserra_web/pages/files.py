"""A project's files: the list (page in the URL), an upload (streamed as REST streams it, through the same
body readers and the same use case with its limits; console.js shows its progress, the form works without
it), a download (streamed, as an attachment) and a delete."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template

from tesserra_adapters.uploads import DRAIN_LIMIT, MULTIPART_SLACK, MultipartFile, RequestBody, content_disposition
from tesserra_core.errors import Forbidden, NotFound, PayloadTooLarge, TesserraError, ValidationFailed
from tesserra_web.web import TOKEN_IN_STREAM, Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]


def _size(n: int) -> str:
    """A size as people read it: 512 bytes, 1.5 KiB, 2.0 GiB."""
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def routes(console: Console) -> list[HTTPRouteHandler]:
    largest = console.uc.ports.file_storage.max_object_bytes

    async def _list(
        request: AnyRequest, project_id: str, status: int = 200, error: str | None = None, done: str = ""
    ) -> Template:
        session, actor = await console.signed_in(request)
        project = await console.uc.projects.get(actor, project_id)
        pager = Pager.of(request)
        page = await console.uc.files.list(actor, project_id, pager.request)
        return render(
            request,
            "project_files.html",
            status=status,
            error=error,
            done=done,
            session=session,
            actor=actor,
            project=project,
            page=page,
            pager=pager,
            largest=_size(largest),
            size=_size,
        )

    @get("/projects/{project_id:str}/files")
    async def files_page(request: AnyRequest, project_id: FromPath[str]) -> Template:
        return await _list(request, project_id, done=request.query_params.get("uploaded", "")[:255])

    @post(
        "/projects/{project_id:str}/files",
        request_max_body_size=None,  # read here as a stream, every byte counted by the use case
        opt={TOKEN_IN_STREAM: True},
    )
    async def upload_file(request: AnyRequest, project_id: FromPath[str]) -> Template | Redirect:
        session, actor = await console.signed_in(request)
        body = RequestBody(request.receive)
        try:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > largest + MULTIPART_SLACK:
                raise PayloadTooLarge(
                    f"the file is larger than the {largest} bytes one upload may store", code="file_too_large"
                )
            content_type = request.headers.get("content-type", "")
            if not content_type.lower().startswith("multipart/form-data"):
                raise ValidationFailed("send the upload form (multipart/form-data)", code="invalid_multipart")
            form = MultipartFile(body, content_type)
            upload = await form.open()
            console.check_token(session, request.headers.get("x-csrf-token") or form.fields.get("csrf"))
            if not upload.filename:
                raise ValidationFailed("choose a file to upload", code="no_file")
            stored = await console.uc.files.upload(actor, project_id, upload)
        except TesserraError as exc:
            await body.drain(DRAIN_LIMIT)
            if isinstance(exc, NotFound | Forbidden):  # another tenant's project, a viewer, a CSRF refusal
                raise
            return await _list(request, project_id, exc.status, f"this file was not stored: {exc.message}")
        return back_to(href(f"/projects/{project_id}/files", uploaded=stored.name))

    @get("/projects/{project_id:str}/files/{file_id:str}")
    async def download_file(request: AnyRequest, project_id: FromPath[str], file_id: FromPath[str]) -> Stream:
        _, actor = await console.signed_in(request)
        download = await console.uc.files.download(actor, project_id, file_id)
        f = download.file
        headers = {
            "Content-Disposition": content_disposition(f.name),
            "Content-Length": str(f.size),
            "Content-Security-Policy": "sandbox",  # beside the console's own: never a page of this origin
            "Cache-Control": "no-store",
            "ETag": f'"{f.sha256}"',
        }
        return Stream(download.chunks, media_type=f.content_type or "application/octet-stream", headers=headers)

    @post("/projects/{project_id:str}/files/{file_id:str}/delete")
    async def delete_file(request: AnyRequest, project_id: FromPath[str], file_id: FromPath[str]) -> Response[Any]:
        _, actor = await console.signed_in(request)
        await console.uc.files.delete(actor, project_id, file_id)
        return back_to(href(f"/projects/{project_id}/files"))

    return [files_page, upload_file, download_file, delete_file]
