"""Our per-request state on oauthlib's request object, out of the client's reach.

oauthlib's ``Request.__getattr__`` answers for any attribute the object lacks with the query or body
parameter of that name. ``getattr(request, "x", default)`` therefore returns whatever the client sent as
``x``, and a client could plant values that our code then trusts. Our state lives in one dict, in the
request's own ``__dict__``, and is read only from there.
"""

from __future__ import annotations

from typing import Any

_KEY = "_django_idp_logout_state"


def request_state(request) -> dict[str, Any]:
    """The mutable state this app keeps for one oauthlib request (created on first use)."""
    own = vars(request)
    state = own.get(_KEY)
    if state is None:
        state = own[_KEY] = {}
    return state
