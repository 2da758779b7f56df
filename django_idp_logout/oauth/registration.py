"""DOT's Dynamic Client Registration (RFC 7591/7592) with the clients' logout metadata.

DOT's views map only redirect URIs, name, grant type and client type. These subclasses keep DOT's
behaviour (permissions, registration access tokens, rotation) and add the logout metadata
(``client_metadata``): registration and update store it in the same transaction as DOT's application,
read and every response return it, and a bad value is a 400 ``invalid_client_metadata`` that registers
(or changes) nothing. DELETE needs nothing more: our row cascades with the application.

Every string of the request body passes ``untrusted`` before DOT sees it, so NUL bytes, lone
surrogates, odd types or deep nesting never reach a database driver (no 500 from any input).
"""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from oauth2_provider.models import get_application_model
from oauth2_provider.views import DynamicClientRegistrationManagementView, DynamicClientRegistrationView
from oauth2_provider.views.dynamic_client_registration import _check_permissions, _error_response

from . import client_metadata
from .client_metadata import InvalidClientMetadata


def _checked_metadata(request: HttpRequest) -> client_metadata.LogoutMetadata | HttpResponse:
    """The logout metadata of the request body, or the 400 response to send."""
    try:
        document = client_metadata.parse_document(request.body)
        public = document.get("token_endpoint_auth_method") == "none"
        return client_metadata.logout_metadata(document, public=public)
    except InvalidClientMetadata as exc:
        return _error_response("invalid_client_metadata", str(exc))


def _with_logout_metadata(response: HttpResponse, application) -> HttpResponse:
    data = json.loads(response.content)
    data.update(client_metadata.describe(application))
    return JsonResponse(data, status=response.status_code)


class IdpLogoutRegistrationView(DynamicClientRegistrationView):
    """RFC 7591 ``POST register/`` (URL name ``oauth2_provider:dcr-register``)."""

    def post(self, request, *args, **kwargs):
        if not _check_permissions(request):  # DOT's order: who may register comes first
            return super().post(request, *args, **kwargs)
        metadata = _checked_metadata(request)
        if isinstance(metadata, HttpResponse):
            return metadata
        with transaction.atomic():
            response = super().post(request, *args, **kwargs)
            if response.status_code != 201:
                return response
            client_id = json.loads(response.content)["client_id"]
            application = get_application_model().objects.get(client_id=client_id)
            client_metadata.store(application, metadata)
        return _with_logout_metadata(response, application)


class IdpLogoutRegistrationManagementView(DynamicClientRegistrationManagementView):
    """RFC 7592 ``GET/PUT/DELETE register/<client_id>/`` (``oauth2_provider:dcr-register-management``)."""

    def get(self, request, client_id: str, *args, **kwargs):
        response = super().get(request, client_id, *args, **kwargs)
        if response.status_code != 200:
            return response
        return _with_logout_metadata(response, get_application_model().objects.get(client_id=client_id))

    def put(self, request, client_id: str, *args, **kwargs):
        auth = self._authenticate_registration_request(request, client_id)
        if isinstance(auth, HttpResponse):
            return auth
        metadata = _checked_metadata(request)
        if isinstance(metadata, HttpResponse):
            return metadata
        with transaction.atomic():
            response = super().put(request, client_id, *args, **kwargs)
            if response.status_code != 200:
                return response
            application = get_application_model().objects.get(pk=auth.application.pk)
            client_metadata.store(application, metadata)
        return _with_logout_metadata(response, application)
