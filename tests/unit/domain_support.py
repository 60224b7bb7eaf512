"""Builders the domain and zone tests share."""

from __future__ import annotations

import uuid

from tesserra_adapters.memory.dns import MemoryResolver
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases.domains import NewDomain

REALISTIC_ZONE = """\
$ORIGIN {zone}.
$TTL 3600
@       IN SOA  ns1.{zone}. hostmaster.{zone}. ( 2024010101 7200 3600 1209600 300 )
@       86400   IN NS   ns1.{zone}.
@       86400   IN NS   ns2.provider.net.
@               IN A    203.0.113.10
@               IN AAAA 2001:db8::10
@       300     IN MX   10 mail
@       300     IN MX   20 mail.backup.net.
@               IN TXT  "v=spf1 include:_spf.google.com ~all"
@               IN CAA  0 issue "letsencrypt.org"
@               IN CAA  0 iodef "mailto:security@{zone}"
www     600     IN CNAME @
mail            IN A    203.0.113.20
_sip._tcp       IN SRV  10 60 5060 sip.{zone}.
_dmarc          IN TXT  "v=DMARC1; p=quarantine; rua=mailto:dmarc@{zone}"
sip             IN A    203.0.113.30
long            IN TXT  "first string with spaces" "second \\"quoted\\" string"
$ORIGIN sub.{zone}.
api     120     IN A    198.51.100.7
*               IN A    198.51.100.8
"""


def zone_name() -> str:
    return f"z{uuid.uuid4().hex[:10]}.com.br"


def resolver(uc: UseCases) -> MemoryResolver:
    found = uc.ports.resolver
    assert isinstance(found, MemoryResolver)
    return found


async def new_domain(uc: UseCases, actor: Principal, **fields: object) -> str:
    view = await uc.domains.create(actor, NewDomain(name=str(fields.pop("name", zone_name())), **fields))  # type: ignore[arg-type]
    return view.id


async def records(uc: UseCases, actor: Principal, domain_id: str) -> set[tuple[str, str, int, str]]:
    page = await uc.zones.list_records(actor, domain_id, PageRequest(500, 0))
    return {(r.name, r.type.value, r.ttl, r.data) for r in page.items}
