from __future__ import annotations

import pytest

from moorage.oci import names


@pytest.mark.parametrize("name", ["ab", "my-reg", "a.b_c", "r2d2", "a" * 63, "team.app-images"])
def test_registry_names_accepted(name: str) -> None:
    assert names.check_registry_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a", "2-63"),
        ("a" * 64, "2-63"),
        ("Upper", "lowercase"),
        ("a--b", "single"),
        ("-ab", "start and end"),
        ("ab_", "start and end"),
        ("a/b", "lowercase"),
    ],
)
def test_registry_names_refused(name: str, rule: str) -> None:
    with pytest.raises(names.InvalidNameError, match=rule):
        names.check_registry_name(name)


@pytest.mark.parametrize("name", ["reg/app", "reg/a/b/c", "reg/a__b", "reg/a---b", "reg/a.b_c-d"])
def test_repository_names_accepted(name: str) -> None:
    assert names.check_repository_name(name, "registry.example.com") == name


@pytest.mark.parametrize(
    "name", ["reg/App", "reg/app/", "reg//app", "reg/../app", "reg/-app", "reg/a___b", "reg/a b"]
)
def test_repository_names_refused(name: str) -> None:
    with pytest.raises(names.InvalidNameError):
        names.check_repository_name(name)


def test_length_limit_counts_the_registry_address() -> None:
    address = "registry.example.com:5000"
    fits = "reg/" + "a" * (255 - len(address) - 1 - 4)
    assert len(f"{address}/{fits}") == 255
    names.check_repository_name(fits, address)
    with pytest.raises(names.InvalidNameError, match="too long"):
        names.check_repository_name(fits + "a", address)


def test_split_repository_needs_an_image() -> None:
    assert names.split_repository("reg/a/b") == ("reg", "a/b")
    with pytest.raises(names.InvalidNameError, match="no image name"):
        names.split_repository("reg")


@pytest.mark.parametrize("tag", ["v1", "latest", "_x", "1.0.0-rc.1", "A" * 128])
def test_tags_accepted(tag: str) -> None:
    assert names.check_tag(tag) == tag


@pytest.mark.parametrize("tag", [".hidden", "-x", "a" * 129, "a/b", "a:b", ""])
def test_tags_refused(tag: str) -> None:
    with pytest.raises(names.InvalidTagError):
        names.check_tag(tag)
