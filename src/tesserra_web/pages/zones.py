"""A domain's zone on its page: records added, edited and deleted, and its zone file exported as a
download or imported by paste or upload (all records or none; the first wrong line named)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.errors import ValidationFailed
from tesserra_core.usecases.zones import MAX_ZONE_TEXT, DnsRecordChanges, NewDnsRecord
from tesserra_web.pages.domains import REFUSED, refusal, render_domain, with_ttl
from tesserra_web.web import Console, back_to, href, render

AnyRequest = Request[Any, Any, Any]
MAX_ZONE_FORM = 4 * MAX_ZONE_TEXT + 64 * 1024
"""The import form's body: a zone file of MAX_ZONE_TEXT characters (up to 4 bytes each) and the form."""


async def _zone_text(form: Mapping[str, object]) -> str:
    """The zone file of the import form: the uploaded file if one was chosen, else the pasted text."""
    upload = form.get("upload")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed("the zone file is not UTF-8 text", code="invalid_zone_file") from None
    return str(form.get("zone_file", ""))


def routes(console: Console) -> list[HTTPRouteHandler]:
    @post("/domains/{domain_id:str}/records")
    async def add_record(request: AnyRequest, domain_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = {k: str(form.get(k, "")) for k in ("name", "type", "data", "ttl")}
        try:
            fields = {"name": typed["name"], "type": typed["type"], "data": typed["data"]}
            cmd = msgspec.convert(with_ttl(fields, "ttl", typed["ttl"]), NewDnsRecord)  # as the REST body
            await console.uc.zones.create_record(actor, domain_id, cmd)
        except (msgspec.ValidationError, *REFUSED) as exc:
            return await render_domain(console, request, domain_id, *refusal(exc, "record"), typed)
        return back_to(href(f"/domains/{domain_id}"))

    @post("/domains/{domain_id:str}/records/{record_id:str}/delete")
    async def delete_record(request: AnyRequest, domain_id: FromPath[str], record_id: FromPath[str]) -> Response[Any]:
        session, actor = await console.signed_in(request)
        await console.uc.zones.delete_record(actor, domain_id, record_id)
        if request.headers.get("hx-request"):
            return render(request, "record_deleted_row.html", session=session, actor=actor)
        return back_to(href(f"/domains/{domain_id}"))

    @post("/domains/{domain_id:str}/records/{record_id:str}")
    async def edit_record(
        request: AnyRequest, domain_id: FromPath[str], record_id: FromPath[str]
    ) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = {k: str(form.get(k, "")) for k in ("name", "data", "ttl")}
        try:
            fields = {"name": typed["name"], "data": typed["data"]}
            cmd = msgspec.convert(with_ttl(fields, "ttl", typed["ttl"]), DnsRecordChanges)  # as the REST body
            await console.uc.zones.update_record(actor, domain_id, record_id, cmd)
        except (msgspec.ValidationError, *REFUSED) as exc:
            status, message = refusal(exc, "record")
            return await render_domain(console, request, domain_id, status, message, error_for=record_id, edited=typed)
        return back_to(href(f"/domains/{domain_id}"))

    @get("/domains/{domain_id:str}/zone")
    async def export_zone(request: AnyRequest, domain_id: FromPath[str]) -> Response[str]:
        _, actor = await console.signed_in(request)
        domain = await console.uc.domains.get(actor, domain_id)
        zone = await console.uc.zones.export_zone(actor, domain_id)
        return Response(
            zone.zone_file,
            media_type="text/dns; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{domain.name}.zone"',  # a checked DNS name
                "Cache-Control": "no-store",
            },
        )

    @post("/domains/{domain_id:str}/zone", request_max_body_size=MAX_ZONE_FORM)
    async def import_zone(request: AnyRequest, domain_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        text = ""
        try:
            text = await _zone_text(form)
            done = await console.uc.zones.import_zone(actor, domain_id, text)
        except REFUSED as exc:
            kept = text if len(text) <= MAX_ZONE_TEXT else ""
            return await render_domain(
                console, request, domain_id, exc.status, exc.message, error_for="zone", zone_text=kept
            )
        return back_to(href(f"/domains/{domain_id}", imported=str(done.records)))

    return [add_record, edit_record, delete_record, export_zone, import_zone]
