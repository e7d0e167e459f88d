"""A token login's mechanisms as the user writes them: password mechanisms named
explicitly with a token source are refused naming auth_methods (a password mechanism
would send the access token as a password), even when they are exactly the list a
password login uses by default; leaving auth_methods out gives the OAuth mechanisms."""

from __future__ import annotations

from typing import Any

import pytest

from smtpwatch.core.errors import ConfigError
from smtpwatch.core.target import Target

TOKEN: dict[str, Any] = {
    "target_id": "o365",
    "host": "smtp.office365.com",
    "login": True,
    "username": "monitor@contoso.com",
    "token_ref": "ssm:/smtpwatch/o365",
}
REASON = (
    "CRAM-MD5, LOGIN, PLAIN would send the access token as a password; with token_ref use"
    " XOAUTH2, OAUTHBEARER"
)


@pytest.mark.parametrize(
    "methods",
    [["CRAM-MD5", "LOGIN", "PLAIN"], ("CRAM-MD5", "LOGIN", "PLAIN"), "CRAM-MD5,LOGIN,PLAIN"],
)
def test_the_password_mechanisms_named_with_a_token_source_are_refused(methods: Any) -> None:
    with pytest.raises(ConfigError) as refused:
        Target(**TOKEN, auth_methods=methods)
    assert (refused.value.field, refused.value.reason) == ("auth_methods", REASON)


def test_a_stored_item_naming_the_password_mechanisms_with_a_token_is_refused() -> None:
    item = {**TOKEN, "auth_methods": ["CRAM-MD5", "LOGIN", "PLAIN"]}
    with pytest.raises(ConfigError) as refused:
        Target.from_item(item, strict=False)
    assert refused.value.field == "auth_methods"


def test_without_auth_methods_a_token_login_uses_oauth_and_survives_its_item_form() -> None:
    target = Target(**TOKEN)
    assert target.auth_methods == ("XOAUTH2", "OAUTHBEARER")
    again, unknown = Target.from_item(target.to_item(), strict=True)
    assert (again.auth_methods, unknown) == (("XOAUTH2", "OAUTHBEARER"), [])
    password = Target(**{**TOKEN, "token_ref": None, "password_ref": "ssm:/smtpwatch/mx1"})
    assert password.auth_methods == ("CRAM-MD5", "LOGIN", "PLAIN")
