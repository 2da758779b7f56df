"""The ``sub`` this OP gives a user, the same everywhere: ID tokens, logout tokens, hint matching.

DOT puts ``str(user.pk)`` in ID tokens unless a project's validator changes ``sub``, which it does
through ``get_additional_claims``. Logout tokens must carry the value the client saw in its ID tokens,
or the client cannot match them to its sessions. The validator mixin's ``get_subject`` answers this: by
default it asks the project's own claim code, so a project that customised ``sub`` has nothing more to
do.
"""

from __future__ import annotations

from oauth2_provider.settings import oauth2_settings


def subject_for(user, application=None) -> str:
    """The ``sub`` of ``user`` as the configured validator issues it."""
    validator = oauth2_settings.OAUTH2_VALIDATOR_CLASS()
    get_subject = getattr(validator, "get_subject", None)
    return get_subject(user, application) if get_subject is not None else str(user.pk)
