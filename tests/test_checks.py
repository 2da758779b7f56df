"""System checks name the misconfiguration and its fix."""

import pytest
from django.core.checks import Error, Warning
from django.test import override_settings

from django_idp_logout import checks


def ids(messages):
    return [m.id for m in messages]


def test_default_test_configuration_is_clean():
    assert checks.check_settings() == []
    assert checks.check_middleware() == []
    assert checks.check_oidc_provider() == []
    assert checks.check_urls() == []


def test_unknown_setting_names_the_closest_known_one(settings):
    settings.IDP_LOGOUT = {"SHOW_LOGOUT_PROMT": False}
    assert checks.check_settings() == [
        Error(
            "Unknown setting IDP_LOGOUT['SHOW_LOGOUT_PROMT'].",
            hint="Did you mean 'SHOW_LOGOUT_PROMPT'?",
            id="django_idp_logout.E001",
        )
    ]


@pytest.mark.parametrize("value", [0, -5, "600", True, None])
def test_logout_id_max_age_must_be_positive_seconds(settings, value):
    settings.IDP_LOGOUT = {"LOGOUT_ID_MAX_AGE": value}
    assert ids(checks.check_settings()) == ["django_idp_logout.E002"]


@pytest.mark.parametrize("value", [0, -1, "60", 1.5])
def test_timeouts_must_be_none_or_positive_seconds(settings, value):
    settings.IDP_LOGOUT = {"SESSION_IDLE_TIMEOUT": value}
    assert ids(checks.check_settings()) == ["django_idp_logout.E002"]


def test_missing_middleware_is_an_error(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "idp_logout" not in m]
    assert ids(checks.check_middleware()) == ["django_idp_logout.E016"]


def test_middleware_before_authentication_is_an_error(settings):
    settings.MIDDLEWARE = ["django_idp_logout.middleware.UserSessionMiddleware"] + [
        m for m in settings.MIDDLEWARE if "idp_logout" not in m
    ]
    assert ids(checks.check_middleware()) == ["django_idp_logout.E017"]


def test_boolean_settings_must_be_booleans(settings):
    settings.IDP_LOGOUT = {"SHOW_LOGOUT_PROMPT": "no"}
    assert ids(checks.check_settings()) == ["django_idp_logout.E003"]


def oauth2(settings, **overrides):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, **overrides}


def test_oidc_disabled_is_an_error(settings):
    oauth2(settings, OIDC_ENABLED=False)
    assert "django_idp_logout.E010" in ids(checks.check_oidc_provider())


def test_missing_rsa_key_is_a_warning(settings):
    oauth2(settings, OIDC_RSA_PRIVATE_KEY="")
    messages = checks.check_oidc_provider()
    assert ids(messages) == ["django_idp_logout.W011"]
    assert isinstance(messages[0], Warning)


def test_rp_initiated_logout_disabled_is_an_error(settings):
    oauth2(settings, OIDC_RP_INITIATED_LOGOUT_ENABLED=False)
    assert ids(checks.check_oidc_provider()) == ["django_idp_logout.E012"]


def test_missing_issuer_is_a_warning(settings):
    oauth2(settings, OIDC_ISS_ENDPOINT=None)
    assert ids(checks.check_oidc_provider()) == ["django_idp_logout.W013"]


def test_dot_classes_without_our_mixins_are_errors(settings):
    oauth2(
        settings,
        OAUTH2_VALIDATOR_CLASS="oauth2_provider.oauth2_validators.OAuth2Validator",
        OAUTH2_BACKEND_CLASS="oauth2_provider.oauth2_backends.OAuthLibCore",
    )
    assert ids(checks.check_oidc_provider()) == ["django_idp_logout.E014", "django_idp_logout.E015"]


def test_a_project_subclass_composing_the_mixin_passes(settings):
    oauth2(settings, OAUTH2_VALIDATOR_CLASS="tests.test_checks.ProjectValidator")
    assert checks.check_oidc_provider() == []


def test_dot_discovery_view_instead_of_ours_is_an_error():
    with override_settings(ROOT_URLCONF="tests.urls_plain_dot"):
        assert ids(checks.check_urls()) == ["django_idp_logout.E020", "django_idp_logout.E021"]


from oauth2_provider.oauth2_validators import OAuth2Validator  # noqa: E402

from django_idp_logout.oauth.validator import IdpLogoutValidatorMixin  # noqa: E402


class ProjectValidator(IdpLogoutValidatorMixin, OAuth2Validator):
    pass


class ProjectCodeChecks(OAuth2Validator):
    """A project's own stricter validate_code, written against DOT's validator."""

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        return (
            super().validate_code(client_id, code, client, request, *args, **kwargs)
            and request.user.is_active
        )


class ShadowedValidator(IdpLogoutValidatorMixin, ProjectCodeChecks):
    pass


class OverridesFirstValidator(IdpLogoutValidatorMixin, OAuth2Validator):
    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        return (
            super().validate_code(client_id, code, client, request, *args, **kwargs)
            and request.user.is_active
        )


def test_an_override_placed_after_the_mixin_is_reported_as_shadowed(settings):
    oauth2(settings, OAUTH2_VALIDATOR_CLASS="tests.test_checks.ShadowedValidator")
    (warning,) = checks.check_oidc_provider()
    assert warning.id == "django_idp_logout.W018"
    assert "ProjectCodeChecks.validate_code" in warning.msg


def test_an_override_placed_before_the_mixin_is_fine(settings):
    oauth2(settings, OAUTH2_VALIDATOR_CLASS="tests.test_checks.OverridesFirstValidator")
    assert checks.check_oidc_provider() == []


def test_dot_registration_and_device_views_are_ours_by_default(settings):
    oauth2(settings, DCR_ENABLED=True)
    assert checks.check_dot_registration_and_devices() == []


def test_dot_own_registration_and_device_views_are_named(settings):
    oauth2(settings, DCR_ENABLED=True)
    with override_settings(ROOT_URLCONF="tests.urls_plain_dot"):
        assert ids(checks.check_dot_registration_and_devices()) == [
            "django_idp_logout.E120",
            "django_idp_logout.E121",
        ]


def test_dot_own_registration_views_are_fine_while_registration_is_off(settings):
    oauth2(settings, DCR_ENABLED=False)
    with override_settings(ROOT_URLCONF="tests.urls_plain_dot"):
        assert ids(checks.check_dot_registration_and_devices()) == ["django_idp_logout.E121"]


def test_client_id_metadata_documents_without_our_fetcher_are_named(settings):
    oauth2(settings, CIMD_ENABLED=True)
    messages = checks.check_dot_registration_and_devices()
    assert ids(messages) == ["django_idp_logout.W120"] and isinstance(messages[0], Warning)


def test_client_id_metadata_documents_with_our_fetcher_are_fine(settings):
    oauth2(
        settings,
        CIMD_ENABLED=True,
        CIMD_METADATA_FETCHER="django_idp_logout.oauth.cimd.IdpLogoutMetadataFetcher",
    )
    assert checks.check_dot_registration_and_devices() == []
