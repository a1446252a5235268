from appliance.actors import CLI, Role
from appliance.services import Services


def test_tenant_and_user_round_trip(services: Services) -> None:
    tenant = services.tenants.create_tenant("Example AB", "example", CLI)
    user, enrolment = services.users.create_user("Officer@Example.com", "correct horse battery",
                                                 [(tenant.id, Role.HANDLER)], CLI, with_totp=True)
    services.session.commit()
    assert enrolment is not None
    assert services.users.by_email("officer@example.com").id == user.id
    assert services.users.email_of(user) == "officer@example.com"
    assert services.logbook.verify().ok
