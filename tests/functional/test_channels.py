"""Issue 17, part 2 (slice 1): several reporting channels per tenant, each with its own readers
(both databases).

A channel's readers are an entry on the tenant's signed reader list: a report filed through a
channel is sealed only to them (and the escrow key), shows only in their queue, and who reads a
channel changes only when a reader of that channel confirms.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from appliance.actors import CLI, Role, StaffPrincipal
from appliance.cases.models import Case, CasePrivateKeySeal
from appliance.cases.queue_filter import QueueFilter
from appliance.cases.reporting import NewReport
from appliance.errors import AccessDenied, Conflict, InvalidInput, NotAReader, NotFound
from appliance.readers.models import ReaderNotice
from appliance.readers.service import Signer
from appliance.services import Services
from appliance.tenants.models import ReportingChannel
from tests.functional.conftest import Org, ReaderFactory

pytestmark = pytest.mark.one_session


def channel_with_readers(services: Services, org: Org, confirmer: StaffPrincipal, *members: StaffPrincipal,
                         name: str = "Subsidiary GmbH") -> ReportingChannel:
    channel = services.channels.create(org.tenant.id, name, "For the subsidiary.", [], CLI)
    change = services.readers.propose_channel(org.tenant.id, channel.id, [m.user_id for m in members], CLI, "cli")
    services.readers.confirm(org.tenant.id, change.id, Signer.user(confirmer), confirmer.actor)
    return channel


def file(services: Services, org: Org, channel: ReportingChannel | None, what: str = "Stock sold off the books.",
         category_id: uuid.UUID | None = None) -> uuid.UUID:
    report = NewReport(category_id or org.category_id, what,
                       reporting_channel_id=channel.id if channel is not None else None)
    return services.reporting.submit(org.tenant, report, []).case_id


def sealed_users(services: Services, case_id: uuid.UUID) -> set[uuid.UUID]:
    return set(services.session.execute(sa.select(CasePrivateKeySeal.user_id).where(
        CasePrivateKeySeal.case_id == case_id, CasePrivateKeySeal.kind == "handler")).scalars())


def queue_ids(services: Services, principal: StaffPrincipal) -> set[uuid.UUID]:
    return {row.id for row in services.cases.queue(principal, QueueFilter())}


def test_every_tenant_has_one_open_default_channel(services: Services, org_a: Org) -> None:
    channels = services.channels.channels(org_a.tenant.id)
    assert [(c.name, c.is_default, c.active) for c in channels] == [("Alpha AB", True, True)]
    case_id = file(services, org_a, None)
    assert services.session.get(Case, case_id).reporting_channel_id == channels[0].id  # type: ignore[union-attr]


def test_a_second_channels_report_reaches_only_its_readers(services: Services, org_a: Org,
                                                            make_reader: ReaderFactory) -> None:
    bo = make_reader(org_a)
    channel = channel_with_readers(services, org_a, org_a.handler, bo)
    to_channel = file(services, org_a, channel, what="Only for the subsidiary's readers.")
    to_default = file(services, org_a, None)

    assert sealed_users(services, to_channel) == {bo.user_id}
    assert sealed_users(services, to_default) == {org_a.handler.user_id, bo.user_id}
    assert services.session.get(Case, to_channel).reporting_channel_id == channel.id  # type: ignore[union-attr]
    assert queue_ids(services, org_a.handler) == {to_default}
    assert queue_ids(services, bo) == {to_channel, to_default}
    assert services.cases.open_case(bo, to_channel).report.what == "Only for the subsidiary's readers."


def test_a_channel_without_readers_of_its_own_reaches_the_whole_list(services: Services, org_a: Org,
                                                                     make_reader: ReaderFactory) -> None:
    bo = make_reader(org_a)
    channel = services.channels.create(org_a.tenant.id, "Sverige", "", [], CLI)
    case_id = file(services, org_a, channel)
    assert sealed_users(services, case_id) == {org_a.handler.user_id, bo.user_id}


def test_who_reads_a_channel_changes_only_when_one_of_its_readers_confirms(
        services: Services, org_a: Org, make_reader: ReaderFactory) -> None:
    bo = make_reader(org_a)
    channel = channel_with_readers(services, org_a, org_a.handler, bo)
    widen = services.readers.propose_channel(org_a.tenant.id, channel.id, [bo.user_id, org_a.handler.user_id],
                                             CLI, "cli")
    # The first reader is on the tenant's list, but not a reader of this channel: they cannot let themselves in.
    with pytest.raises(AccessDenied):
        services.readers.confirm(org_a.tenant.id, widen.id, Signer.user(org_a.handler), org_a.handler.actor)
    assert services.readers.channel_members(org_a.tenant.id, channel.id) == (bo.user_id,)
    services.readers.confirm(org_a.tenant.id, widen.id, Signer.user(bo), bo.actor)
    assert set(services.readers.channel_members(org_a.tenant.id, channel.id) or ()) == {
        bo.user_id, org_a.handler.user_id}


def test_a_channels_readers_come_from_the_reader_list(services: Services, org_a: Org, org_b: Org,
                                                      make_reader: ReaderFactory) -> None:
    channel = services.channels.create(org_a.tenant.id, "Topic", "", [], CLI)
    with pytest.raises(InvalidInput):  # beta's handler is nobody on alpha's list
        services.readers.propose_channel(org_a.tenant.id, channel.id, [org_b.handler.user_id], CLI, "cli")
    with pytest.raises(InvalidInput):
        services.readers.propose_channel(org_a.tenant.id, channel.id, [], CLI, "cli")
    with pytest.raises(NotFound):  # alpha's channel, proposed on beta's list
        services.readers.propose_channel(org_b.tenant.id, channel.id, [org_b.handler.user_id], CLI, "cli")
    with pytest.raises(InvalidInput):  # the default channel is the whole list
        services.readers.propose_channel(org_a.tenant.id, services.channels.default(org_a.tenant.id).id,
                                         [org_a.handler.user_id], CLI, "cli")


def test_the_only_reader_of_a_channel_stays_until_the_channel_has_another(
        services: Services, org_a: Org, make_reader: ReaderFactory) -> None:
    bo = make_reader(org_a)
    channel_with_readers(services, org_a, org_a.handler, bo)
    with pytest.raises(InvalidInput):
        services.readers.propose_remove(org_a.tenant.id, bo.user_id, CLI, "cli")


def test_a_report_names_only_an_open_channel_of_its_own_tenant(services: Services, org_a: Org, org_b: Org) -> None:
    beta_channel = services.channels.create(org_b.tenant.id, "Beta topic", "", [], CLI)
    with pytest.raises(NotFound):
        file(services, org_a, beta_channel)
    closed = services.channels.create(org_a.tenant.id, "Closed", "", [], CLI)
    services.channels.set_active(org_a.tenant.id, closed.id, False, CLI)
    with pytest.raises(NotFound):
        file(services, org_a, closed)
    assert [c.name for c in services.channels.channels(org_a.tenant.id)] == ["Alpha AB"]
    with pytest.raises(Conflict):
        services.channels.set_active(org_a.tenant.id, services.channels.default(org_a.tenant.id).id, False, CLI)


def test_a_channel_offers_only_its_categories(services: Services, org_a: Org, org_b: Org) -> None:
    channel = services.channels.create(org_a.tenant.id, "Finance", "", [org_a.other_category_id], CLI)
    assert [c.id for c in services.channels.categories(channel)] == [org_a.other_category_id]
    with pytest.raises(InvalidInput):
        file(services, org_a, channel, category_id=org_a.category_id)
    file(services, org_a, channel, category_id=org_a.other_category_id)
    with pytest.raises(InvalidInput):  # beta's category on alpha's channel
        services.channels.update(org_a.tenant.id, channel.id, "Finance", "", [org_b.category_id], CLI)


def test_channel_names_and_texts_are_checked(services: Services, org_a: Org) -> None:
    with pytest.raises(InvalidInput):
        services.channels.create(org_a.tenant.id, "  ", "", [], CLI)
    with pytest.raises(InvalidInput):
        services.channels.create(org_a.tenant.id, "x" * 201, "", [], CLI)
    with pytest.raises(InvalidInput):
        services.channels.create(org_a.tenant.id, "Intro too long", "y" * 4001, [], CLI)
    with pytest.raises(InvalidInput):
        services.channels.create(org_a.tenant.id, "nul\x00", "", [], CLI)
    services.channels.create(org_a.tenant.id, "Twice", "", [], CLI)
    with pytest.raises(Conflict):
        services.channels.create(org_a.tenant.id, "Twice", "", [], CLI)
    with pytest.raises(InvalidInput):
        services.channels.set_external_info(org_a.tenant.id, "z" * 8001, CLI)


def test_reader_notices_name_the_channels_readers(services: Services, org_a: Org, make_reader: ReaderFactory) -> None:
    bo = make_reader(org_a, email="bo@alpha.example.com")
    channel = services.channels.create(org_a.tenant.id, "Topic", "", [], CLI)
    change = services.readers.propose_channel(org_a.tenant.id, channel.id, [bo.user_id], CLI, "cli")
    assert services.session.execute(sa.select(ReaderNotice.event).where(
        ReaderNotice.change_id == change.id)).scalars().all() == ["proposed"]
    pending = [p for p in services.readers.pending(org_a.tenant.id) if p.kind == "channel"]
    assert len(pending) == 1 and pending[0].channel_id == channel.id


def test_roles_other_than_reader_cannot_sign_a_channel(services: Services, org_a: Org,
                                                      make_reader: ReaderFactory) -> None:
    bo = make_reader(org_a)
    channel = services.channels.create(org_a.tenant.id, "Topic", "", [], CLI)
    change = services.readers.propose_channel(org_a.tenant.id, channel.id, [bo.user_id], CLI, "cli")
    admin = org_a.admin
    assert not admin.has(org_a.tenant.id, Role.HANDLER)
    with pytest.raises(NotAReader):  # an administrator proposes; only a reader signs
        services.readers.confirm(org_a.tenant.id, change.id, Signer.user(admin), admin.actor)
