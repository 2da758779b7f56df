"""Telling clients that a session ended: front-channel URLs and the back-channel outbox.

Front-channel (OIDC Front-Channel Logout 1.0): ``frontchannel_urls`` gives the iframe URLs for the
logged-out page. Back-channel (OIDC Back-Channel Logout 1.0): ``queue_backchannel`` writes one outbox
row per (session, client with a back-channel URI) inside the transaction that ends the session;
what is sent, when, and what became of it is the outbox's sending side (``outbox.py``).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.db import connections, router

from ..conf import app_settings
from ..models import (
    BackchannelNotification,
    ClientLogoutSettings,
    EndReason,
    NotificationStatus,
    SessionClient,
    UserSession,
)
from .hints import issuer
from .id_lists import chunked, in_sql

# --- Front-channel ----------------------------------------------------------------------------------


def frontchannel_urls(*, sid: str | None, client_ids: list[str]) -> list[str]:
    """One iframe URL per client of the session with a ``frontchannel_logout_uri``: the registered URI
    (its query kept) plus ``iss`` and ``sid`` when the client requires the session (both or neither)."""
    return [url for _client_id, url in frontchannel_targets(sid=sid, client_ids=client_ids)]


def frontchannel_targets(*, sid: str | None, client_ids: list[str]) -> list[tuple[str, str]]:
    """``frontchannel_urls`` with the client id of each URL: (client_id, iframe URL), by client id."""
    if not client_ids:
        return []
    rows = ClientLogoutSettings.objects.filter(
        application__client_id__in=client_ids, frontchannel_logout_uri__gt=""
    ).order_by("application__client_id")
    return [
        (client_id, frontchannel_url(uri, session_required=required, sid=sid))
        for client_id, uri, required in rows.values_list(
            "application__client_id", "frontchannel_logout_uri", "frontchannel_logout_session_required"
        )
    ]


def frontchannel_url(uri: str, *, session_required: bool, sid: str | None) -> str:
    """A client's registered front-channel URI for one session: ``iss`` and ``sid`` added (both or
    neither) when the client requires the session, its own query kept."""
    if not (session_required and sid):
        return uri
    separator = "&" if urlsplit(uri).query else ("" if uri.endswith("?") else "?")
    return f"{uri}{separator}{urlencode({'iss': issuer(), 'sid': sid})}"


def frame_origins(urls: list[str]) -> list[str]:
    """The distinct origins of the iframe URLs, for the page's ``Content-Security-Policy: frame-src``."""
    origins = []
    for url in urls:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in origins:
            origins.append(origin)
    return origins


# --- Back-channel outbox -----------------------------------------------------------------------------


def queue_backchannel(
    user_session: UserSession, *, reason: str, targets: list[tuple[int, str]] | None = None
) -> list[int]:
    """Write the outbox rows for every client of the session with a back-channel URI (coordinated or
    not), once per (session, client). Call inside the transaction that ends the session, which holds
    the session's row lock: it runs once per session, so no row can exist yet.

    ``targets`` are (application pk, back-channel URI) pairs when the caller has read them already."""
    if targets is None:  # the database reads them: the batch path, for a batch of one
        return queue_backchannel_for_sessions([user_session.pk], reason=reason).get(user_session.pk, [])
    queued = queue_backchannel_batch(
        [(user_session.pk, app_id, uri) for app_id, uri in targets], reason=reason
    )
    return queued.get(user_session.pk, [])


def queue_backchannel_batch(targets: list[tuple[int, int, str]], *, reason: str) -> dict[int, list[int]]:
    """Write the outbox rows of a batch of ending sessions in one INSERT (split only where the database
    limits parameters): ``targets`` are (session pk, application pk, back-channel URI) triples. Returns
    the new notification ids by session pk. Call inside the transaction that locked the sessions.

    Nothing is queued for expired sessions unless ``EXPIRED_SESSIONS_TRIGGER_BACKCHANNEL_LOGOUT``."""
    if (
        reason == EndReason.SESSION_EXPIRATION
        and not app_settings.EXPIRED_SESSIONS_TRIGGER_BACKCHANNEL_LOGOUT
    ):
        return {}
    rows = [
        BackchannelNotification(user_session_id=session_id, application_id=app_id, uri=uri, reason=reason)
        for session_id, app_id, uri in targets
    ]
    if not rows:
        return {}
    created = BackchannelNotification.objects.bulk_create(rows)
    if all(row.pk is not None for row in created):  # PostgreSQL, SQLite 3.35+, MariaDB 10.5+
        pairs = [(row.user_session_id, row.pk) for row in created]
    else:
        pairs = BackchannelNotification.objects.filter(
            user_session_id__in={row.user_session_id for row in rows},
            status=NotificationStatus.PENDING,
            attempts=0,
        ).values_list("user_session_id", "pk")
    by_session: dict[int, list[int]] = {}
    for session_id, pk in pairs:
        by_session.setdefault(session_id, []).append(pk)
    return by_session


def queue_backchannel_for_sessions(session_ids: list[int], *, reason: str) -> dict[int, list[int]]:
    """``queue_backchannel`` for a batch of ending sessions, written by the database: one
    ``INSERT ... SELECT`` from the sessions' clients with a back-channel URI, the new ids coming back
    with ``RETURNING``. Call inside the transaction that locked the sessions; returns the ids by session.

    Raw SQL on purpose: ``bulk_create`` prepares every field of every row in Python (about 50 µs a
    row, a fifth of a bulk batch's time); here the columns that are the same for every row (status,
    attempts, timestamps...) are bound once, taken from the model's own defaults."""
    if (
        reason == EndReason.SESSION_EXPIRATION
        and not app_settings.EXPIRED_SESSIONS_TRIGGER_BACKCHANNEL_LOGOUT
    ) or not session_ids:
        return {}
    connection = connections[router.db_for_write(BackchannelNotification)]
    if not connection.features.can_return_rows_from_bulk_insert:  # no RETURNING (old SQLite/MariaDB)
        targets = SessionClient.objects.filter(
            user_session_id__in=session_ids, application__logout_settings__backchannel_logout_uri__gt=""
        ).values_list(
            "user_session_id", "application_id", "application__logout_settings__backchannel_logout_uri"
        )
        return queue_backchannel_batch(list(targets), reason=reason)
    sql, params = _insert_from_clients_sql(connection, reason)
    session_column = f"c.{connection.ops.quote_name(SessionClient._meta.get_field('user_session').column)}"
    by_session: dict[int, list[int]] = {}
    with connection.cursor() as cursor:
        for chunk in chunked(BackchannelNotification, session_ids):
            sessions, session_params = in_sql(connection, session_column, chunk)
            cursor.execute(sql.format(sessions=sessions), [*params, *session_params])
            for pk, session_id in cursor.fetchall():
                by_session.setdefault(session_id, []).append(pk)
    return by_session


def _insert_from_clients_sql(connection, reason: str) -> tuple[str, list]:
    """The ``INSERT ... SELECT`` of ``queue_backchannel_for_sessions``, with ``{sessions}`` left for the
    sessions' condition. Identifiers come from the models' ``_meta``, quoted; every value is a
    parameter. PostgreSQL gets each constant cast to its column's type (an untyped NULL in a SELECT
    list would be text); elsewhere a CAST could change the value (SQLite reads a date as a number)."""
    quote = connection.ops.quote_name
    notification, client, settings = (
        BackchannelNotification._meta,
        SessionClient._meta,
        ClientLogoutSettings._meta,
    )

    def column(meta, name: str, alias: str) -> str:
        return f"{alias}.{quote(meta.get_field(name).column)}"

    from_clients = {
        "user_session": column(client, "user_session", "c"),
        "application": column(client, "application", "c"),
        "uri": column(settings, "backchannel_logout_uri", "s"),
    }
    template = BackchannelNotification(reason=reason)  # every other column: the model's default
    cast = connection.vendor == "postgresql"
    columns, values, params = [], [], []
    for field in notification.concrete_fields:
        if field.primary_key:
            continue
        columns.append(quote(field.column))
        if field.name in from_clients:
            values.append(from_clients[field.name])
            continue
        values.append(f"CAST(%s AS {field.cast_db_type(connection)})" if cast else "%s")
        params.append(field.get_db_prep_save(field.pre_save(template, add=True), connection))
    sql = (
        f"INSERT INTO {quote(notification.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM {quote(client.db_table)} c "
        f"INNER JOIN {quote(settings.db_table)} s "
        f"ON {column(settings, 'application', 's')} = {from_clients['application']} "
        f"WHERE {from_clients['uri']} > '' AND {{sessions}} "
        f"RETURNING {quote(notification.pk.column)}, {quote(notification.get_field('user_session').column)}"
    )
    return sql, params
