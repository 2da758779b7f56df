"""Browser tests: the logout flow in a real headless Chromium against pytest-django's live server."""
