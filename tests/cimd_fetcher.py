"""A CIMD fetcher for the tests: DOT's own fetcher insists on https to a public address, which cannot
exist here, so this one GETs the document from a real HTTP server on 127.0.0.1 instead (same path).
Everything after the fetch (DOT's checks and upsert, our logout metadata) is the real code."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from oauth2_provider.cimd import CIMDError

from django_idp_logout.oauth.cimd import IdpLogoutFetcherMixin

#: Set by the test's fixture: "http://127.0.0.1:<port>".
DOCUMENT_SERVER = {"base": ""}


class LoopbackFetcher:
    def fetch(self, client_id):
        response = requests.get(DOCUMENT_SERVER["base"] + urlsplit(client_id).path, timeout=5)
        if response.status_code != 200:
            raise CIMDError(f"HTTP {response.status_code}")
        return response.json(), 300


class LoopbackLogoutFetcher(IdpLogoutFetcherMixin, LoopbackFetcher):
    pass
