"""The pure parts of web/security.py: which redirect targets stay on the site, the CSP."""

from __future__ import annotations

import doctest

import pytest

from openatd.web import security
from openatd.web.security import content_security_policy, safe_path


@pytest.mark.parametrize(
    "target",
    ["/ui/", "/ui/participants/3?notice=done", "/me/", "/ui/a//b"],
)
def test_paths_on_this_site_are_kept(target: str) -> None:
    assert safe_path(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/ui/",
        "//evil.example/",
        "/\\evil.example/",
        "http:/ui/",
        "javascript:alert(1)",
        "ui/relative",
        "/ui/\r\nSet-Cookie: x=1",
        "",
        None,
    ],
)
def test_other_hosts_and_odd_targets_go_to_the_default(target: str | None) -> None:
    assert safe_path(target, "/home") == "/home"


def test_csp_allows_only_this_site_and_the_tile_host() -> None:
    csp = content_security_policy(["https://*.tile.example.org"])
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data: blob: https://*.tile.example.org"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"


def test_docstring_examples() -> None:
    assert doctest.testmod(security).failed == 0
