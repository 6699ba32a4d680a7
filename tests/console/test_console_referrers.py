"""Indexes, referrers and artifacts with many tags in the console, end to end in a real browser.

An index of three platform images and a signature of it are pushed over HTTP; the Images tab
and the image page both count one artifact, the signature shows under its subject (the
row's referrers disclosure and the artifact page's Referrers section), and an artifact with
more tags than a row carries offers "+N more", leading to its paged tag list; a cleanup test
run's details say the index's children and signature go with it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import expect, rest
from tests.api.test_artifact_browsing import PLATFORMS, push_signed_index
from tests.console.conftest import sign_in
from tests.protocol.conftest import OciClient
from tests.support.server import ServerProcess

playwright_expect = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright"
).expect

pytestmark = pytest.mark.e2e

REGISTRY = "harbour"
BIG_TAGS = 13


def short(digest: str) -> str:
    return digest[: len("sha256:") + 12]


def test_index_children_and_referrers_are_shown_under_their_artifact(
    console_server: ServerProcess, page: Any, shots: Callable[[Any, str], Path]
) -> None:
    server = console_server
    admin = (server.username, server.password)
    server.create_registry(REGISTRY)
    with httpx.Client(base_url=server.url, auth=admin, timeout=10) as v2:
        pushed = push_signed_index(v2, f"{REGISTRY}/multi")
        big = OciClient(v2, f"{REGISTRY}/big").push_image("t00")
    with rest(server, admin) as api:
        tags = f"/registries/{REGISTRY}/images/big/artifacts/{big.digest}/tags"
        for n in range(1, BIG_TAGS):
            time.sleep(0.002)  # distinct push times: the row carries the newest
            expect(api.post(tags, json={"name": f"t{n:02d}"}), 201)

    # The Images tab counts top-level artifacts: the index, not its three children or its signature.
    sign_in(page, server, f"/registries/{REGISTRY}")
    images = page.get_by_role("table", name=f"Images in {REGISTRY}")
    multi_row = images.get_by_role("row", name=re.compile(r"\bmulti\b"))
    playwright_expect(multi_row.get_by_role("cell", name="1", exact=True).first).to_be_visible()

    # …and so does the image page: one row, with its platforms and one referrer.
    images.get_by_role("link", name="multi", exact=True).click()
    artifacts = page.get_by_role("table", name="Artifacts of multi")
    playwright_expect(artifacts.get_by_role("row")).to_have_count(2)  # the header and the index
    index_row = artifacts.get_by_role("row", name=re.compile(short(pushed.index)))
    for architecture in PLATFORMS:
        playwright_expect(index_row).to_contain_text(f"linux/{architecture}")
    playwright_expect(page.get_by_text(short(pushed.children[0]))).to_have_count(0)
    index_row.get_by_text("1 referrer").click()
    playwright_expect(index_row.get_by_role("link", name=short(pushed.signature))).to_be_visible()
    playwright_expect(index_row).to_contain_text("Signature")
    shots(page, "01-index-with-referrer")

    # The index's page: its platforms, and the signature in the Referrers section.
    artifacts.get_by_role("link", name=short(pushed.index)).click()
    playwright_expect(
        page.get_by_role("heading", name=short(pushed.index), level=1)
    ).to_be_visible()
    playwright_expect(page.get_by_role("table", name="Platforms").get_by_role("row")).to_have_count(
        1 + len(PLATFORMS)
    )
    referrers = page.get_by_role("table", name="Referrers")
    playwright_expect(referrers.get_by_role("row")).to_have_count(2)
    signature_row = referrers.get_by_role("row", name=re.compile(short(pushed.signature)))
    playwright_expect(signature_row).to_contain_text("Signature")
    playwright_expect(signature_row).to_contain_text(
        "application/vnd.dev.cosign.artifact.sig.v1+json"
    )
    shots(page, "02-index-page-referrers")
    signature_row.get_by_role("link", name=short(pushed.signature)).click()
    playwright_expect(
        page.get_by_role("heading", name=short(pushed.signature), level=1)
    ).to_be_visible()
    page.get_by_role("link", name=short(pushed.index)).click()  # its Subject
    playwright_expect(
        page.get_by_role("heading", name=short(pushed.index), level=1)
    ).to_be_visible()

    # A row shows a few of the tags it carries and "+N more" for all the others.
    page.goto(f"{server.url}/registries/{REGISTRY}/images/big")
    big_row = page.get_by_role("table", name="Artifacts of big").get_by_role(
        "row", name=re.compile(short(big.digest))
    )
    for shown in ("t12", "t11", "t10"):
        playwright_expect(big_row).to_contain_text(shown)
    shots(page, "03-many-tags")
    more = big_row.get_by_role("link", name=f"{BIG_TAGS - 3} more tags")
    playwright_expect(more).to_have_text(f"+{BIG_TAGS - 3} more")
    more.click()
    playwright_expect(page.get_by_role("heading", name=short(big.digest), level=1)).to_be_visible()
    tag_table = page.get_by_role("table", name="Tags")
    playwright_expect(tag_table.get_by_role("row")).to_have_count(11)  # a page of 10
    playwright_expect(page.get_by_text(f"{BIG_TAGS} tags").first).to_be_visible()

    # A test run of cleanup says the index's platform images and its signature go with it.
    with rest(server, admin) as api:
        policy = {
            "image": {"pattern": "multi"},
            "tag": {"pattern": "keep-*", "untagged": False},
            "rule": {"kind": "always"},
        }
        expect(api.post(f"/registries/{REGISTRY}/cleanup-policies", json=policy), 201)
        expect(api.post(f"/registries/{REGISTRY}/cleanup-runs", json={"dry_run": True}), 202)
    page.goto(f"{server.url}/registries/{REGISTRY}/cleanup")
    runs = page.get_by_role("table", name="Cleanup runs")
    run = runs.get_by_role("row", name=re.compile("Test run"))
    playwright_expect(run.get_by_text("Succeeded")).to_be_visible(timeout=20_000)
    run.get_by_role("button", name=re.compile("Details of test run")).click()
    details = page.get_by_role("dialog", name=re.compile(r"^Test run by hand, started "))
    line = details.get_by_role("table", name="Verdicts for multi").get_by_role(
        "row", name=re.compile(short(pushed.index))
    )
    playwright_expect(line).to_contain_text("Would be deleted")
    playwright_expect(line).to_contain_text("with 1 referrer and 3 index children")
