"""The dispatcher's invoker choice with a proxy: the direct invoker speaks only to
http:// proxies, so with an https:// proxy configured ``auto`` takes boto3's invoke
(which speaks to any proxy botocore supports) instead of failing every tick."""

from __future__ import annotations

import pytest

from smtpwatch.handlers.settings import load_dispatcher_settings

IN_LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "smtpwatch-dispatcher"}


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_auto_takes_boto3_behind_an_https_proxy(variable: str) -> None:
    env = {**IN_LAMBDA, variable: "https://proxy.internal:3128"}
    assert load_dispatcher_settings(env).invoke_mode == "boto3"


@pytest.mark.parametrize(
    "proxy", ["http://proxy.internal:3128", "proxy.internal:3128", ""], ids=["http", "bare", "none"]
)
def test_auto_stays_direct_with_a_proxy_it_can_use(proxy: str) -> None:
    env = {**IN_LAMBDA, "HTTPS_PROXY": proxy}
    assert load_dispatcher_settings(env).invoke_mode == "direct"


def test_an_explicit_choice_is_kept() -> None:
    env = {**IN_LAMBDA, "HTTPS_PROXY": "https://proxy.internal:3128"}
    assert load_dispatcher_settings({**env, "SMTPWATCH_INVOKE_MODE": "direct"}).invoke_mode == (
        "direct"
    )
