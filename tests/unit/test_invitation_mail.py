"""Invitations by mail, on the memory adapters (the mail port's outbox): emailed with an absolute link built
from the configured public URL only; not emailed, and said why, without a public URL or a mail server; the
invitation stands either way."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tesserra_adapters.memory.mailer import MemoryMailer
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Role
from tesserra_core.domain.paging import PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.ports.mailer import NoMailer
from tesserra_core.ports.shared_tools import SiteConfig
from tesserra_core.usecases.members import NewInvitation
from tests.unit.helpers import Team, unique_email


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="x" * 48, public_url="https://console.example.com/")


def outbox(uc: UseCases) -> MemoryMailer:
    mailer = uc.ports.mailer
    assert isinstance(mailer, MemoryMailer)
    return mailer


async def test_an_invitation_is_emailed_with_the_public_link(uc: UseCases, team: Team) -> None:
    invitee = unique_email("invitee")
    made = await uc.members.invite(team.owner, NewInvitation(email=invitee.upper(), role=Role.MEMBER))
    assert made.emailed
    assert made.email_error is None
    assert made.accept_url == f"https://console.example.com/console/invitations/accept?token={made.token}"
    [letter] = outbox(uc).outbox
    assert letter.to == invitee
    assert letter.subject.startswith("You are invited to Padaria")
    assert made.accept_url in letter.text
    assert team.owner_email in letter.text
    assert "as member" in letter.text


async def test_without_a_public_url_nothing_is_emailed_and_the_invitation_stands(uc: UseCases, team: Team) -> None:
    no_public_url = dataclasses.replace(uc.members.invite, site=SiteConfig())
    made = await no_public_url(team.owner, NewInvitation(email=unique_email("x"), role=Role.VIEWER))
    assert not made.emailed
    assert made.email_error is not None
    assert "TESSERRA_PUBLIC_URL" in made.email_error
    assert made.accept_url.startswith("/console/invitations/accept?token=")
    assert outbox(uc).outbox == []
    assert len((await uc.members.invitations(team.owner, PageRequest())).items) == 1


async def test_without_a_mail_server_the_reason_says_so(uc: UseCases, team: Team) -> None:
    no_mail = dataclasses.replace(uc.members.invite, mailer=NoMailer())
    made = await no_mail(team.owner, NewInvitation(email=unique_email("y"), role=Role.MEMBER))
    assert not made.emailed
    assert made.email_error is not None
    assert "TESSERRA_SMTP_URL" in made.email_error
    assert len((await uc.members.invitations(team.owner, PageRequest())).items) == 1
