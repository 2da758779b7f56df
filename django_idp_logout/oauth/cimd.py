"""Client ID Metadata Documents (DOT's ``cimd.py``, ``CIMD_*`` settings) with the logout metadata.

DOT fetches a client's metadata document on first sight of its URL ``client_id`` (and again when the
cached copy is stale) and builds the application from ``redirect_uris``, ``client_name`` and
``grant_types`` only. Two extension points add the logout metadata (``client_metadata``), with the
same rules as Dynamic Client Registration (CIMD clients are public):

- the fetcher (``CIMD_METADATA_FETCHER``): ``IdpLogoutFetcherMixin`` checks the document's logout
  metadata; a bad value refuses the document (``CIMDError``: DOT treats the client as unknown and
  backs off), a good one is kept for this request;
- the validator (``IdpLogoutValidatorMixin._load_application``): once DOT has stored the
  application, ``store_fetched`` writes the kept metadata to it.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher

from . import client_metadata

# client_id -> LogoutMetadata of the documents fetched in the current _load_application call.
_fetched: contextvars.ContextVar[dict | None] = contextvars.ContextVar("django_idp_logout_cimd", default=None)


@contextmanager
def collecting():
    """Keep the metadata of documents fetched inside the block (see ``store_fetched``)."""
    marker = _fetched.set({})
    try:
        yield
    finally:
        _fetched.reset(marker)


def store_fetched(application) -> None:
    """Write the logout metadata of ``application``'s document, if one was fetched in this block."""
    fetched = _fetched.get()
    metadata = fetched.pop(application.client_id, None) if fetched is not None else None
    if metadata is not None:
        client_metadata.store(application, metadata)


class IdpLogoutFetcherMixin:
    """Compose before your CIMD fetcher (``CIMD_METADATA_FETCHER``) in the bases."""

    def fetch(self, client_id):
        document, max_age = super().fetch(client_id)
        try:
            metadata = client_metadata.logout_metadata(
                client_metadata.checked_document(document), public=True
            )
        except client_metadata.InvalidClientMetadata as exc:
            raise CIMDError(f"invalid logout metadata: {exc}")
        fetched = _fetched.get()
        if fetched is not None:
            fetched[client_id] = metadata
        return document, max_age


class IdpLogoutMetadataFetcher(IdpLogoutFetcherMixin, SafeMetadataFetcher):
    """DOT's SSRF-hardened fetcher with the logout metadata: ``OAUTH2_PROVIDER["CIMD_METADATA_FETCHER"]``."""
