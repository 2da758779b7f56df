"""Forms that parse protocol input. Each field carries the clause of the spec it implements."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from . import untrusted


class OptionalParameter(forms.CharField):
    """A single optional protocol parameter: empty means absent, control characters are refused."""

    def __init__(self, *, max_length: int, **kwargs):
        super().__init__(required=False, max_length=max_length, strip=False, empty_value=None, **kwargs)

    def validate(self, value):
        super().validate(value)
        if value and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise forms.ValidationError(_("Control characters are not allowed."), code="control_chars")
        if value and untrusted.problem(value, max_length=self.max_length):
            raise forms.ValidationError(_("The value is not valid Unicode."), code="invalid_unicode")


class EndSessionRequestForm(forms.Form):
    """The parameters of OpenID Connect RP-Initiated Logout 1.0, section 2. Unknown ones are ignored.

    The length limits keep the ``logout_id`` (which carries these values) well under URL limits.
    """

    # RECOMMENDED. An ID token the OP issued; proves which client asks (section 2).
    id_token_hint = OptionalParameter(max_length=8192)
    # OPTIONAL. A hint about the user, e.g. an e-mail address; shown on the prompt.
    logout_hint = OptionalParameter(max_length=1024)
    # OPTIONAL. MUST equal the hint's aud when both are sent.
    client_id = OptionalParameter(max_length=255)
    # OPTIONAL. MUST exactly match a URI the client registered (section 3).
    post_logout_redirect_uri = OptionalParameter(max_length=2048)
    # OPTIONAL. Passed back unchanged on the redirect.
    state = OptionalParameter(max_length=2048)
    # OPTIONAL. Space-separated BCP47 tags, in order of preference, for the pages we show.
    ui_locales = OptionalParameter(max_length=256)

    def clean(self):
        # RFC 6749 section 3.1: parameters MUST NOT be included more than once. Two values are
        # ambiguous (a proxy, the client and we could each read another one).
        getlist = getattr(self.data, "getlist", None)
        for name in self.fields if getlist else ():
            if len(getlist(name)) > 1:
                self.add_error(name, _("Send this parameter only once."))
        return super().clean()

    def error_messages_for_page(self) -> list[str]:
        return [f"{name}: {' '.join(errors)}" for name, errors in self.errors.items()]


class LogoutConfirmForm(forms.Form):
    """The prompt: the ``logout_id`` travels in a hidden field; the button pressed is the answer."""

    logout_id = forms.CharField(required=False, max_length=16384, widget=forms.HiddenInput)
