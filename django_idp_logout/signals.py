"""Signals of django-idp-logout.

Each is sent after the database transaction that caused it has committed, so a receiver never sees
state that is later rolled back. Arguments are keyword-only; the sender is the model class.
"""

from django.dispatch import Signal

# A login session started.  sender: UserSession; kwargs: user_session.
session_started = Signal()

# A login session ended.  sender: UserSession; kwargs: user_session, reason ("user_logout",
# "session_expiration", "terminated", "upstream_logout", "remote_logout", "session_limit").
session_ended = Signal()

# Tokens of an ended session were revoked for its coordinated clients.  sender: UserSession;
# kwargs: user_session, client_ids (list of str), counts (dict with keys refresh_tokens,
# access_tokens, id_tokens, grants: rows revoked or deleted).
tokens_revoked = Signal()

# A back-channel logout notification was accepted by the client (HTTP 200 or 204).
# sender: BackchannelNotification; kwargs: notification, status_code.
backchannel_logout_delivered = Signal()

# A back-channel logout attempt failed.  sender: BackchannelNotification; kwargs: notification,
# error (short reason), final (True when no retry will follow).
backchannel_logout_failed = Signal()
