"""System checks of the delivery worker's settings (ids E420, E421, W420)."""

import pytest
from django.core.checks import Error, Warning

from django_idp_logout import checks


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("BACKCHANNEL_CONCURRENCY", 0),
        ("BACKCHANNEL_CONCURRENCY_PER_CLIENT", -1),
        ("BACKCHANNEL_CLAIM_BATCH", "200"),
        ("BACKCHANNEL_CIRCUIT_FAILURES", True),
        ("BACKCHANNEL_CIRCUIT_PAUSE", 1.5),
    ],
)
def test_a_worker_limit_must_be_a_positive_whole_number(settings, key, value):
    settings.IDP_LOGOUT = {key: value}
    assert checks.check_settings() == [
        Error(
            f"IDP_LOGOUT[{key!r}] must be a positive whole number, not {value!r}.",
            hint=f"Remove it to use the default ({checks.DEFAULTS[key]}).",
            id="django_idp_logout.E420",
        )
    ]


@pytest.mark.parametrize("value", [0, -0.1, "fast", None])
def test_the_poll_interval_must_be_positive_seconds(settings, value):
    settings.IDP_LOGOUT = {"BACKCHANNEL_WORKER_POLL_INTERVAL": value}
    assert [m.id for m in checks.check_settings()] == ["django_idp_logout.E421"]


def test_a_per_client_limit_above_the_global_one_is_a_warning(settings):
    settings.IDP_LOGOUT = {"BACKCHANNEL_CONCURRENCY": 10, "BACKCHANNEL_CONCURRENCY_PER_CLIENT": 11}
    (message,) = checks.check_settings()
    assert isinstance(message, Warning) and message.id == "django_idp_logout.W420"


def test_the_defaults_and_the_worker_strategy_pass(settings):
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "worker", "BACKCHANNEL_WORKER_POLL_INTERVAL": 1}
    assert checks.check_settings() == []
