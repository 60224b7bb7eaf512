"""The shipped catalog: it loads from the package data, every schema is supported, defaults fill in,
and plan limits refuse what the plan does not allow (402 naming the limit)."""

from __future__ import annotations

import pytest

from tesserra_core.domain.catalog import Kind, catalog
from tesserra_core.domain.plans import FREE_LIMITS, Entitlement
from tesserra_core.errors import PaymentRequired, Unprocessable

FREE = Entitlement(plan="free", limits=FREE_LIMITS, subscribed=False)
PRO = Entitlement(plan="pro", limits=FREE_LIMITS, subscribed=True)


def test_the_catalog_is_versioned_and_holds_the_six_types() -> None:
    c = catalog()
    assert c.version
    kinds = {t.type: t.kind for t in c.types}
    assert kinds == {
        "web_app": Kind.CONTAINER,
        "static_site": Kind.LOGICAL,
        "postgres_database": Kind.LOGICAL,
        "object_bucket": Kind.LOGICAL,
        "cron_job": Kind.CONTAINER,
        "mcp_server": Kind.CONTAINER,
    }


def test_unknown_type_is_400_listing_the_known_ones() -> None:
    with pytest.raises(Unprocessable) as caught:
        catalog().get("mainframe")
    assert caught.value.code == "unknown_type"
    assert "web_app" in caught.value.message


def test_validate_fills_defaults_and_keeps_given_values() -> None:
    db = catalog().get("postgres_database")
    assert db.validate({}) == {"version": "16", "storage_mb": 1024}
    assert db.validate({"version": "17"})["version"] == "17"
    web = catalog().get("web_app")
    assert web.validate({"image": "busybox", "port": 80}) == {"image": "busybox", "port": 80, "health_path": "/"}


def test_cron_schedule_must_look_like_cron() -> None:
    cron = catalog().get("cron_job")
    cron.validate({"image": "i", "schedule": "*/5 * * * *", "command": ["run"]})
    cron.validate({"image": "i", "schedule": "@daily", "command": ["run"]})
    with pytest.raises(Unprocessable, match=r"config\.schedule"):
        cron.validate({"image": "i", "schedule": "every minute", "command": ["run"]})


def test_plan_limits_are_402_naming_the_limit() -> None:
    web = catalog().get("web_app")
    web.check_plan({"image": "i", "port": 1, "memory_mb": 256}, FREE)
    with pytest.raises(PaymentRequired) as caught:
        web.check_plan({"image": "i", "port": 1, "memory_mb": 512}, FREE)
    assert "web_app.memory_mb" in caught.value.message
    assert caught.value.code == "subscription_required"
    web.check_plan({"image": "i", "port": 1, "memory_mb": 512}, PRO)
    with pytest.raises(PaymentRequired) as paid:
        web.check_plan({"image": "i", "port": 1, "cpus": 3}, PRO)
    assert paid.value.code == "quota_exceeded"
    custom = Entitlement(plan="enterprise-acme", limits=FREE_LIMITS, subscribed=True)
    web.check_plan({"image": "i", "port": 1, "memory_mb": 65536}, custom)
