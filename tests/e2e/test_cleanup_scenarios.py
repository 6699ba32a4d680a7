"""Image cleanup end to end: real pushes, push and pull times set in the server's database,
policies and runs through the REST API and the CLI, results checked through the registry
protocol.

The main scenario runs on a server of its own on SQLite, whose database the test edits to
age the pushes. Expectations are computed here from the scenario's own description, never by
moorage's cleanup code.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from moorage.metadata import tables as t
from tests.protocol.conftest import (
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    ErrorEntry,
    OciClient,
    descriptor,
    expect_error,
    expect_status,
    image_config,
    image_manifest,
    random_blob,
)
from tests.support.databases import metadata_engine, sqlite_url
from tests.support.oci_auth import DockerTokenAuth
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

API_PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"
SIGNATURE_TYPE = "application/vnd.example.signature.v1"
RUN_TIMEOUT = 60.0


# --- clients and REST helpers (also used by the other policy suites) -------------------------


def rest_client(server: ServerProcess) -> httpx.Client:
    """The management API as the administrator (Basic credentials)."""
    return httpx.Client(
        base_url=server.url + API_PREFIX, auth=(server.username, server.password), timeout=30
    )


def registry_client(server: ServerProcess) -> httpx.Client:
    """/v2/ as the administrator, through the Docker token flow."""
    return httpx.Client(
        base_url=server.url, auth=DockerTokenAuth(server.username, server.password), timeout=30
    )


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:600]}"
    )
    return resp.json() if resp.content else None


def expect_problem(resp: httpx.Response, status: int, *fragments: str) -> str:
    """A problem details answer with `status` whose detail holds every fragment."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: expected {status}, "
        f"got {resp.status_code} {resp.text[:600]}"
    )
    assert resp.headers["content-type"].startswith(PROBLEM_JSON), resp.headers
    detail = str(resp.json()["detail"])
    for fragment in fragments:
        assert fragment in detail, f"{fragment!r} not in {detail!r}"
    return detail


def new_registry(api: httpx.Client, prefix: str = "c") -> str:
    """A fresh registry, made through the REST API (quicker than the CLI)."""
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    ok(api.post("/registries", json={"name": name}), 201)
    return name


def selector(pattern: str, include: bool = True) -> dict[str, Any]:
    return {"pattern": pattern, "include": include}


def add_protection(api: httpx.Client, registry: str, image: str, tag: str) -> int:
    body = {"image": selector(image), "tag": selector(tag)}
    return int(ok(api.post(f"/registries/{registry}/protection-policies", json=body), 201)["id"])


def cleanup_body(
    image: str, tag: str, rule: Mapping[str, Any], *, enabled: bool = True
) -> dict[str, Any]:
    return {
        "image": selector(image),
        "tag": {**selector(tag), "untagged": False},
        "rule": dict(rule),
        "enabled": enabled,
    }


def add_cleanup(
    api: httpx.Client,
    registry: str,
    image: str,
    tag: str,
    rule: Mapping[str, Any],
    *,
    enabled: bool = True,
) -> int:
    body = cleanup_body(image, tag, rule, enabled=enabled)
    return int(ok(api.post(f"/registries/{registry}/cleanup-policies", json=body), 201)["id"])


def wait_for_run(api: httpx.Client, registry: str, run_id: int) -> dict[str, Any]:
    """The run's detail once it has finished (the server's runner does the work)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        detail: dict[str, Any] = ok(api.get(f"/registries/{registry}/cleanup-runs/{run_id}"))
        if detail["status"] in ("succeeded", "failed"):
            return detail
        assert time.monotonic() < deadline, f"cleanup run {run_id} never finished: {detail}"
        time.sleep(0.1)


def run_cleanup(api: httpx.Client, registry: str, *, dry_run: bool) -> dict[str, Any]:
    started = ok(api.post(f"/registries/{registry}/cleanup-runs", json={"dry_run": dry_run}), 202)
    assert (started["dry_run"], started["trigger"]) == (dry_run, "manual")
    detail = wait_for_run(api, registry, int(started["id"]))
    assert detail["status"] == "succeeded", detail
    return detail


def image_path(registry: str, image: str) -> str:
    return f"/registries/{registry}/images/{image.replace('/', '%2F')}"


def listed_artifacts(api: httpx.Client, registry: str, image: str) -> dict[str, dict[str, Any]]:
    """The image's artifacts in the REST listing, by digest, with the referrers listed under
    their subjects; {} once the image is gone."""
    path = f"{image_path(registry, image)}/artifacts"
    resp = api.get(path, params={"page_size": 100})
    if resp.status_code == 404:
        return {}
    page = ok(resp)
    assert page["total"] <= 100
    found = {a["digest"]: a for a in page["items"]}
    for subject in page["items"]:
        if subject.get("referrer_count"):
            referrers = ok(
                api.get(f"{path}/{subject['digest']}/referrers", params={"page_size": 100})
            )
            found.update({r["digest"]: r for r in referrers["items"]})
    return found


Verdicts = dict[tuple[str, str], tuple[str, tuple[int, ...], int | None]]


def verdicts(lines: Sequence[Mapping[str, Any]]) -> Verdicts:
    """(image, digest) → (verdict, kept_by, protected_by) from a run's artifact lines."""
    found: Verdicts = {}
    for line in lines:
        key = (str(line["image"]), str(line["digest"]))
        assert key not in found, f"{key} judged twice"
        kept_by = tuple(sorted(line["kept_by"]))
        found[key] = (str(line["verdict"]), kept_by, line["protected_by"])
    return found


def run_lines(detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"image": task["image"], **line} for task in detail["tasks"] for line in task["artifacts"]
    ]


# --- pushing -------------------------------------------------------------------------------


def push_image(http: httpx.Client, repository: str, *tags: str) -> str:
    """A small image with a config of its own (so a distinct artifact), under each tag (or
    by digest when there are none). Nothing is pulled, so no pull time is recorded."""
    oci = OciClient(http, repository)
    manifest = image_manifest(
        descriptor(OCI_CONFIG, oci.push_blob(image_config(uuid.uuid4().hex))),
        [descriptor(OCI_LAYER_GZIP, oci.push_blob(random_blob(64)))],
    )
    for reference in tags or (manifest.digest,):
        oci.push_manifest(reference, manifest)
    return manifest.digest


def push_signature(http: httpx.Client, repository: str, subject: str) -> str:
    """A referrer (a signature-like artifact) of `subject`, pushed by digest."""
    oci = OciClient(http, repository)
    subject_body = expect_status(oci.head_manifest(subject), 200)
    config = oci.push_blob(b"{}")
    manifest = image_manifest(
        descriptor(OCI_EMPTY, config),
        [descriptor(SIGNATURE_TYPE, oci.push_blob(random_blob(32)))],
        artifact_type=SIGNATURE_TYPE,
        subject={
            "mediaType": OCI_MANIFEST,
            "digest": subject,
            "size": int(subject_body.headers["content-length"]),
        },
    )
    oci.push_manifest(manifest.digest, manifest)
    return manifest.digest


def expect_manifest(http: httpx.Client, repository: str, reference: str, digest: str) -> None:
    resp = expect_status(OciClient(http, repository).get_manifest(reference), 200)
    assert resp.headers["docker-content-digest"] == digest


def expect_manifest_gone(http: httpx.Client, repository: str, reference: str) -> ErrorEntry:
    return expect_error(
        OciClient(http, repository).get_manifest(reference), 404, "MANIFEST_UNKNOWN"
    )


# --- the main scenario ---------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One artifact of the scenario: where it is, its tags, and how old its push and pull are."""

    image: str
    tags: tuple[str, ...]
    pushed_days_ago: float
    pulled_days_ago: float | None = None


SCENARIO = (
    # app/web: twelve tagged artifacts (one with two tags), and an untagged one pushed last.
    Planned("app/web", ("v10",), 1),
    Planned("app/web", ("v09",), 2),
    Planned("app/web", ("release-2",), 3),
    Planned("app/web", ("v08",), 4),
    Planned("app/web", ("v07",), 5),
    Planned("app/web", ("v06",), 6, pulled_days_ago=6),
    Planned("app/web", ("release-1",), 7.5),
    Planned("app/web", ("stable", "v05"), 8),
    Planned("app/web", ("v04",), 9, pulled_days_ago=2),
    Planned("app/web", ("v03",), 10),
    Planned("app/web", ("v02",), 11, pulled_days_ago=30),
    Planned("app/web", ("v01",), 12),
    Planned("app/web", (), 0.5),
    # app/api: a second image under app/**, counted on its own.
    Planned("app/api", ("a1",), 1),
    Planned("app/api", ("a2",), 2),
    Planned("app/api", ("a3",), 3),
    Planned("app/api", ("a4",), 4, pulled_days_ago=1),
    Planned("app/api", ("a5",), 5, pulled_days_ago=8),
    # tools/cli: only the `**` policy applies.
    Planned("tools/cli", ("c1",), 1, pulled_days_ago=3),
    Planned("tools/cli", ("c2",), 1),
    Planned("tools/cli", ("release-9",), 40),
)
SIGNED_TAG = "v01"  # gets a signature, which must go with it
# Worked out by hand, to check the computed expectation: the tags of the artifacts that go.
DELETED_TAGS = {
    *(("app/web", tag) for tag in ("v08", "v07", "stable", "v05", "v03", "v02", "v01")),
    ("app/api", "a5"),
    ("tools/cli", "c2"),
}


@dataclass(frozen=True)
class Policies:
    latest_three: int  # app/** tag ** keep the 3 most recently pushed
    pulled_week: int  # ** tag ** keep those pulled within 7 days
    protect_release: int  # protection: ** tag release-*


def expected_verdicts(digests: Mapping[Planned, str], policies: Policies) -> Verdicts:
    """What the run must decide, worked out from the scenario's rules directly."""
    kept: dict[Planned, list[int]] = {item: [] for item in digests}
    by_image: dict[str, list[Planned]] = {}
    for item in digests:
        by_image.setdefault(item.image, []).append(item)
    for image, items in by_image.items():
        tagged = [i for i in items if i.tags]  # the tag selectors leave untagged ones out
        if image.startswith("app/"):
            for item in sorted(tagged, key=lambda i: i.pushed_days_ago)[:3]:
                kept[item].append(policies.latest_three)
        for item in tagged:
            if item.pulled_days_ago is not None and item.pulled_days_ago <= 7:
                kept[item].append(policies.pulled_week)
    expected: Verdicts = {}
    for item, digest in digests.items():
        key = (item.image, digest)
        if kept[item]:
            expected[key] = ("kept", tuple(sorted(kept[item])), None)
        elif any(tag.startswith("release-") for tag in item.tags):
            expected[key] = ("kept_protected", (), policies.protect_release)
        else:
            expected[key] = ("deleted", (), None)
    return expected


def age_artifacts(server: ServerProcess, digests: Mapping[Planned, str]) -> None:
    """Set push and pull times in the server's SQLite database (WAL: the server keeps running)."""
    now = datetime.now(UTC)
    with metadata_engine(sqlite_url(server.data_dir)) as engine, engine.begin() as conn:
        for item, digest in digests.items():
            pushed = now - timedelta(days=item.pushed_days_ago)
            pulled = (
                None if item.pulled_days_ago is None else now - timedelta(days=item.pulled_days_ago)
            )
            changed = conn.execute(
                update(t.artifact)
                .where(t.artifact.c.digest == digest)
                .values(pushed_at=pushed, pulled_at=pulled)
                .returning(t.artifact.c.id)
            ).all()
            assert len(changed) == 1, digest
            conn.execute(
                update(t.tag)
                .where(t.tag.c.artifact_id == changed[0].id)
                .values(pushed_at=pushed, pulled_at=pulled)
            )


@dataclass
class Scenario:
    server: ServerProcess
    registry: str
    api: httpx.Client
    http: httpx.Client
    digests: dict[Planned, str]
    signature: str
    policies: Policies

    def repository(self, image: str) -> str:
        return f"{self.registry}/{image}"

    @property
    def expected(self) -> Verdicts:
        return expected_verdicts(self.digests, self.policies)

    def all_listed(self) -> set[tuple[str, str]]:
        images = {item.image for item in self.digests}
        return {
            (image, digest)
            for image in images
            for digest in listed_artifacts(self.api, self.registry, image)
        }


@pytest.fixture
def scenario(server_factory: type[ServerProcess], tmp_path: Path) -> Iterator[Scenario]:
    server = server_factory(tmp_path / "server", auth=True).start()
    with rest_client(server) as api, registry_client(server) as http:
        registry = new_registry(api)
        digests: dict[Planned, str] = {}
        for item in SCENARIO:
            digests[item] = push_image(http, f"{registry}/{item.image}", *item.tags)
        signed = next(i for i in SCENARIO if SIGNED_TAG in i.tags)
        signature = push_signature(http, f"{registry}/{signed.image}", digests[signed])
        age_artifacts(server, digests)
        policies = Policies(
            latest_three=add_cleanup(
                api, registry, "app/**", "**", {"kind": "latest_pushed", "count": 3}
            ),
            pulled_week=add_cleanup(
                api, registry, "**", "**", {"kind": "pulled_within", "days": 7}
            ),
            protect_release=add_protection(api, registry, "**", "release-*"),
        )
        yield Scenario(server, registry, api, http, digests, signature, policies)


def test_cleanup_scenario_dry_run_cli_and_real_run(scenario: Scenario) -> None:
    expected = scenario.expected
    doomed = {(i.image, d) for i, d in scenario.digests.items() if not i.tags}
    doomed |= {
        (i.image, d)
        for i, d in scenario.digests.items()
        for tag in i.tags
        if (i.image, tag) in DELETED_TAGS
    }
    assert {key for key, v in expected.items() if v[0] == "deleted"} == doomed
    before = scenario.all_listed()
    images = sorted({item.image for item in scenario.digests})

    # A test run lists exactly the expected verdicts and deletes nothing.
    dry = run_cleanup(scenario.api, scenario.registry, dry_run=True)
    assert dry["dry_run"] is True
    assert sorted(task["image"] for task in dry["tasks"]) == images
    assert verdicts(run_lines(dry)) == expected
    counts = [v[0] for v in expected.values()]
    assert dry["counts"] == {
        "images": 3,
        "artifacts": len(expected),
        "deleted": counts.count("deleted"),
        "kept": counts.count("kept"),
        "protected": counts.count("kept_protected"),
        "failed": 0,
    }
    assert scenario.all_listed() == before

    # The CLI's test run reports the same plan.
    cli = scenario.server.cli("cleanup", "run", scenario.registry, "--dry-run", "--json")
    report = json.loads(cli.stdout)
    assert (report["dry_run"], report["status"]) == (True, "succeeded")
    assert verdicts(report["artifacts"]) == verdicts(run_lines(dry))
    assert report["counts"] == dry["counts"]
    assert scenario.all_listed() == before

    # The real run deletes exactly those, and says so.
    real = run_cleanup(scenario.api, scenario.registry, dry_run=False)
    assert real["dry_run"] is False
    assert verdicts(run_lines(real)) == expected
    assert real["counts"] == dry["counts"]
    deleted = {key for key, v in expected.items() if v[0] == "deleted"}
    signed = next(i for i in scenario.digests if SIGNED_TAG in i.tags)
    assert (signed.image, scenario.digests[signed]) in deleted
    signature = (signed.image, scenario.signature)
    assert signature in before, "the signature is listed, but never judged on its own"
    assert scenario.all_listed() == before - deleted - {signature}, "it went with its subject"

    for item, digest in scenario.digests.items():
        repository = scenario.repository(item.image)
        references = item.tags or (digest,)
        for reference in references:
            if (item.image, digest) in deleted:
                expect_manifest_gone(scenario.http, repository, reference)
            else:
                expect_manifest(scenario.http, repository, reference, digest)
    expect_manifest_gone(scenario.http, scenario.repository(signed.image), scenario.signature)


# --- policy limits, schedules, disabled policies, the guide's example -------------------------


@pytest.fixture
def api(live_server: ServerProcess) -> Iterator[httpx.Client]:
    with rest_client(live_server) as client:
        yield client


@pytest.fixture
def registry(api: httpx.Client) -> str:
    """A fresh registry in the session's live server (on each metadata backend)."""
    return new_registry(api)


POLICY_KINDS = ("protection", "cleanup")


def policy_body(kind: str, n: int) -> dict[str, Any]:
    if kind == "protection":
        return {"image": selector(f"img{n}/**"), "tag": selector("v*")}
    return cleanup_body(f"img{n}/**", "**", {"kind": "latest_pushed", "count": 1})


@pytest.mark.parametrize("kind", POLICY_KINDS)
def test_sixteenth_and_duplicate_policies_are_refused(
    api: httpx.Client, registry: str, kind: str
) -> None:
    path = f"/registries/{registry}/{kind}-policies"
    ok(api.post(path, json=policy_body(kind, 0)), 201)
    expect_problem(api.post(path, json=policy_body(kind, 0)), 409, "same")
    for n in range(1, 15):
        ok(api.post(path, json=policy_body(kind, n)), 201)
    expect_problem(api.post(path, json=policy_body(kind, 15)), 409, "at most 15")
    listed = ok(api.get(path))
    assert listed["total"] == 15
    # A deleted policy makes room again.
    ok(api.delete(f"{path}/{listed['items'][0]['id']}"), 204)
    ok(api.post(path, json=policy_body(kind, 15)), 201)


@pytest.mark.parametrize(
    ("cron", "field"),
    [
        ("0 3 * * XYZ", "day of week"),
        ("0 3 * * 7", "day of week"),
        ("60 3 * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 3 32 * *", "day of month"),
        ("0 3 * 13 *", "month"),
        ("0 3 * *", "5 fields"),
    ],
)
def test_a_bad_cron_names_the_bad_field(
    api: httpx.Client, registry: str, cron: str, field: str
) -> None:
    path = f"/registries/{registry}/cleanup-schedule"
    expect_problem(api.put(path, json={"cron": cron}), 400, field)
    assert ok(api.get(path)) == {"cron": None, "next_run_at": None, "last_run_at": None}
    good = ok(api.put(path, json={"cron": "0 3 * * sun"}))
    assert good["cron"] == "0 3 * * SUN"
    assert datetime.fromisoformat(good["next_run_at"]) > datetime.now(UTC)
    expect_problem(api.put(path, json={"cron": cron}), 400, field)
    assert ok(api.get(path))["cron"] == "0 3 * * SUN", "a refused change keeps the old one"


def push_some(http: httpx.Client, registry: str) -> dict[tuple[str, str], str]:
    """A few images: (image, reference) → digest, one of them untagged."""
    pushed = {}
    for image, tag in [("app/web", "v1"), ("app/web", "v2"), ("tools", "latest")]:
        pushed[(image, tag)] = push_image(http, f"{registry}/{image}", tag)
    untagged = push_image(http, f"{registry}/app/web")
    pushed[("app/web", untagged)] = untagged
    return pushed


def test_a_disabled_policy_keeps_nothing_and_touches_nothing(
    api: httpx.Client, http: httpx.Client, registry: str
) -> None:
    pushed = push_some(http, registry)
    # Disabled, the guide's "delete everything" touches nothing: no image is even looked at.
    add_cleanup(api, registry, "**", "nothing-uses-this", {"kind": "always"}, enabled=False)
    run = run_cleanup(api, registry, dry_run=False)
    assert run["tasks"] == []
    assert run["counts"] == {
        "images": 0,
        "artifacts": 0,
        "deleted": 0,
        "kept": 0,
        "protected": 0,
        "failed": 0,
    }
    for (image, reference), digest in pushed.items():
        expect_manifest(http, f"{registry}/{image}", reference, digest)

    # Disabled, "keep everything" saves nothing from an enabled policy either.
    add_cleanup(api, registry, "**", "**", {"kind": "always"}, enabled=False)
    keep_one = add_cleanup(api, registry, "app/**", "v2", {"kind": "always"})
    lines = run_lines(run_cleanup(api, registry, dry_run=True))
    assert {(x["image"], x["digest"]): (x["verdict"], x["kept_by"]) for x in lines} == {
        (image, digest): ("kept", [keep_one]) if reference == "v2" else ("deleted", [])
        for (image, reference), digest in pushed.items()
        if image.startswith("app/")
    }


def test_the_guides_example_deletes_every_artifact(
    api: httpx.Client, http: httpx.Client, registry: str
) -> None:
    """All images (`**`), a tag pattern no tag uses, `always`: nothing is kept."""
    pushed = push_some(http, registry)
    add_cleanup(api, registry, "**", "nothing-uses-this", {"kind": "always"})
    run = run_cleanup(api, registry, dry_run=False)
    lines = run_lines(run)
    assert {(x["image"], x["digest"]) for x in lines} == {
        (image, digest) for (image, _), digest in pushed.items()
    }
    assert {x["verdict"] for x in lines} == {"deleted"}
    assert run["counts"]["deleted"] == len(pushed)
    for image, reference in pushed:
        expect_manifest_gone(http, f"{registry}/{image}", reference)
        assert listed_artifacts(api, registry, image) == {}
