# The "project that already has DOT" before the guide: DOT installed, its own scopes.
INSTALLED_APPS += ["oauth2_provider"]
OAUTH2_PROVIDER = {"SCOPES": {"read": "Read", "write": "Write", "groups": "Your groups"}}
