"""``ui_locales`` (OpenID Connect Core 1.0 section 3.1.2.1): the language of the pages we render."""

from __future__ import annotations

from django.utils import translation


def language_from_ui_locales(ui_locales: str | None) -> str | None:
    """The first tag of the space-separated list that the project offers in ``LANGUAGES``."""
    for tag in (ui_locales or "").split():
        try:
            return translation.get_supported_language_variant(tag.replace("_", "-").lower())
        except LookupError:
            continue
    return None


def override_for(ui_locales: str | None):
    """A context manager that activates the requested language, or changes nothing."""
    language = language_from_ui_locales(ui_locales)
    if language is None:
        return translation.override(translation.get_language(), deactivate=False)
    return translation.override(language)
