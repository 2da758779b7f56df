"""The ``sub`` this OP gives a user, the same everywhere: ID tokens, logout tokens, hint matching.

DOT puts ``str(user.pk)`` in ID tokens unless a project's validator changes ``sub``, which it does
through ``get_additional_claims``. Logout tokens must carry the value the client saw in its ID tokens,
or the client cannot match them to its sessions. The validator mixin's ``get_subject`` answers this: by
default it asks the project's own claim code, so a project that customised ``sub`` has nothing more to
do.
"""

from __future__ import annotations

import logging

from oauth2_provider.settings import oauth2_settings

logger = logging.getLogger(__name__)


def _validator_class():
    validator_class = oauth2_settings.OAUTH2_VALIDATOR_CLASS
    # Asked by name, not by ``issubclass(IdpLogoutValidatorMixin)``: services never import ``oauth/``
    # (the validator mixin imports the services, so the arrow points one way).
    if isinstance(validator_class, type) and getattr(validator_class, "get_subject", None) is not None:
        return validator_class
    return None


def validator_computes_subject() -> bool:
    """Whether ``subject_for`` asks the validator; when not, the ``sub`` is ``str(user.pk)`` and callers
    that hold only the user's id need not load the user."""
    return _validator_class() is not None


def subject_for(user, application=None) -> str | None:
    """The ``sub`` of ``user`` as the configured validator issues it; ``None`` when it cannot be known
    (then callers rely on the ``sid`` alone). Never raises: a logout must not fail over it."""
    validator_class = _validator_class()
    if validator_class is None:
        return str(user.pk)  # DOT's own sub (check E014 already reports the missing mixin)
    try:
        return validator_class().get_subject(user, application)
    except Exception:
        logger.exception("django_idp_logout: get_subject() failed; relying on the sid alone")
        return None
