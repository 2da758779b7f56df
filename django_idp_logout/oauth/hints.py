"""Kept for imports written before the module moved: ``id_token_hint`` verification and ``issuer()``
live in ``django_idp_logout.services.hints`` (services never import ``oauth/``)."""

from ..services.hints import (  # noqa: F401
    InvalidHint,
    VerifiedHint,
    issuer,
    op_rsa_keys,
    verify_id_token_hint,
)
