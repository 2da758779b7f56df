"""DOT's validator with only the read-once look-ups (no session binding): the benchmark's middle
configuration, which separates what binding costs from what the read-once look-ups save."""

from oauth2_provider.oauth2_validators import OAuth2Validator

from django_idp_logout.oauth.lookups import ReadOnceValidatorMixin


class ReadOnceOAuth2Validator(ReadOnceValidatorMixin, OAuth2Validator):
    pass
