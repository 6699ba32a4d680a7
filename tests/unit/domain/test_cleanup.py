from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from moorage.domain.kernel.errors import Conflict, InvalidInput
from moorage.domain.policies.cleanup import (
    MAX_COUNT,
    MAX_DAYS,
    MAX_POLICIES,
    Candidate,
    CleanupPolicy,
    ImagePlan,
    Outcome,
    Plan,
    Rule,
    RuleKind,
    always,
    check_count,
    check_duplicate,
    evaluate,
    latest_pulled,
    latest_pushed,
    pulled_within,
    pushed_within,
)
from moorage.domain.policies.protection import ProtectionPolicy
from moorage.domain.policies.selectors import Selector, TagSelector

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def cleanup(
    id: int,
    rule: Rule,
    *,
    image: str = "**",
    tag: str = "**",
    image_include: bool = True,
    tag_include: bool = True,
    untagged: bool = False,
    enabled: bool = True,
) -> CleanupPolicy:
    return CleanupPolicy(
        id,
        Selector(image, image_include),
        TagSelector(tag, tag_include, untagged),
        rule,
        enabled=enabled,
    )


def artifact(
    image: str,
    digest: str,
    *tags: str,
    pushed: timedelta,
    pulled: timedelta | None = None,
) -> Candidate:
    """An artifact pushed (and maybe pulled) that long before NOW."""
    return Candidate(image, digest, tags, NOW - pushed, None if pulled is None else NOW - pulled)


def image_plan(plan: Plan, image: str) -> ImagePlan:
    (found,) = [i for i in plan.images if i.image == image]
    return found


def kept(plan: Plan, image: str) -> set[str]:
    return {
        v.candidate.digest for v in image_plan(plan, image).verdicts if v.outcome is Outcome.KEPT
    }


def deleted(plan: Plan, image: str) -> set[str]:
    return {
        v.candidate.digest for v in image_plan(plan, image).verdicts if v.outcome is Outcome.DELETED
    }


# --- Harbor's documented examples ----------------------------------------------------------
# goharbor/website docs/working-with-projects/working-with-images/create-tag-retention-rules.md


def harbor_project() -> list[Candidate]:
    """Examples 1–4: repository A has 102 artifacts, 2 of them untagged, all pulled in the
    last week; repositories B–E have 7 artifacts each, 1 untagged, none pulled in the last
    month (B's were pulled 40 days ago, C–E's never)."""
    artifacts = [
        # a0 is the most recently pulled, a99 the least
        artifact("a", f"a{i:03}", f"t{i}", pushed=60 * DAY - i * MINUTE, pulled=(i + 1) * HOUR)
        for i in range(100)
    ]
    artifacts += [
        artifact("a", f"a-untagged{i}", pushed=50 * DAY, pulled=2 * DAY) for i in range(2)
    ]
    for repo in "bcde":
        pulled = 40 * DAY if repo == "b" else None
        artifacts += [
            artifact(repo, f"{repo}{i}", f"t{i}", pushed=90 * DAY - i * MINUTE, pulled=pulled)
            for i in range(6)
        ]
        artifacts.append(artifact(repo, f"{repo}-untagged", pushed=80 * DAY, pulled=pulled))
    return artifacts


def test_harbor_example_1_latest_pulled_counts_per_repository() -> None:
    plan = evaluate(harbor_project(), [cleanup(1, latest_pulled(10))], [], NOW)
    assert kept(plan, "a") == {f"a{i:03}" for i in range(10)}
    for repo in "bcde":
        assert kept(plan, repo) == {f"{repo}{i}" for i in range(6)}
        assert deleted(plan, repo) == {f"{repo}-untagged"}
    assert plan.count(Outcome.KEPT) == 34
    assert {"a-untagged0", "a-untagged1"} <= deleted(plan, "a")
    assert plan.count(Outcome.DELETED) == 92 + 4


def test_harbor_example_2_pulled_within_days() -> None:
    plan = evaluate(harbor_project(), [cleanup(1, pulled_within(7))], [], NOW)
    assert kept(plan, "a") == {f"a{i:03}" for i in range(100)}
    assert deleted(plan, "a") == {"a-untagged0", "a-untagged1"}
    for repo in "bcde":
        assert kept(plan, repo) == set()
    assert plan.count(Outcome.KEPT) == 100


def test_harbor_example_3_untagged_checked() -> None:
    plan = evaluate(harbor_project(), [cleanup(1, pulled_within(7), untagged=True)], [], NOW)
    # all of A (the docs say 103, but A was given 102 artifacts in example 1)
    assert deleted(plan, "a") == set()
    assert plan.count(Outcome.KEPT) == 102
    for repo in "bcde":
        assert kept(plan, repo) == set()


def test_harbor_example_4_rules_combine_with_or() -> None:
    rules = [cleanup(1, pulled_within(7)), cleanup(2, latest_pulled(10))]
    plan = evaluate(harbor_project(), rules, [], NOW)
    assert kept(plan, "a") == {f"a{i:03}" for i in range(100)}
    for repo in "bcde":
        assert kept(plan, repo) == {f"{repo}{i}" for i in range(6)}
    assert plan.count(Outcome.KEPT) == 124
    by_digest = {v.candidate.digest: v for v in image_plan(plan, "a").verdicts}
    assert by_digest["a000"].kept_by == (1, 2)
    assert by_digest["a050"].kept_by == (1,)
    assert image_plan(plan, "b").policy_ids == (1, 2)


def test_harbor_example_5_two_tag_patterns() -> None:
    tags = [
        f"{v}-your_repo-{k}"
        for v in ("2.1", "2.2", "3.1", "4.4")
        for k in ("prod", "rc", "release")
    ]
    artifacts = [artifact("repo", f"d-{t}", t, pushed=i * HOUR) for i, t in enumerate(tags)]
    rules = [cleanup(1, latest_pushed(10), tag="2*"), cleanup(2, latest_pushed(10), tag="*-prod")]
    plan = evaluate(artifacts, rules, [], NOW)
    assert kept(plan, "repo") == {
        f"d-{t}"
        for t in (
            "2.1-your_repo-prod",
            "2.1-your_repo-rc",
            "2.1-your_repo-release",
            "2.2-your_repo-prod",
            "2.2-your_repo-rc",
            "2.2-your_repo-release",
            "3.1-your_repo-prod",
            "4.4-your_repo-prod",
        )
    }
    assert len(deleted(plan, "repo")) == 4


def test_harbor_retention_keeps_whole_artifacts_with_all_their_tags() -> None:
    # "Tag Retention Rules and Native Docker Tag Deletion": four tags on one digest; keeping
    # the two latest `harbor-*` tags keeps the artifact, so all four tags stay.
    shared = artifact(
        "harbor",
        "same",
        "harbor-1.8",
        "harbor-release",
        "harbor-nightly",
        "harbor-latest",
        pushed=HOUR,
    )
    older = artifact("harbor", "older", "harbor-1.7", pushed=DAY)
    oldest = artifact("harbor", "oldest", "harbor-1.6", pushed=2 * DAY)
    plan = evaluate(
        [oldest, shared, older], [cleanup(1, latest_pushed(2), tag="harbor-*")], [], NOW
    )
    assert kept(plan, "harbor") == {"same", "older"}
    assert deleted(plan, "harbor") == {"oldest"}
    (first, *_) = image_plan(plan, "harbor").verdicts
    assert first.candidate.tags == shared.tags


# --- the guide and SPEC §8 -----------------------------------------------------------------


def test_guide_example_unused_tag_name_deletes_every_artifact() -> None:
    # "전체 이미지 + 사용하지 않는 태그 이름 + 해당 아티팩트 모두 제외하고, 정리"
    artifacts = [
        artifact("app", "1", "latest", pushed=HOUR),
        artifact("app", "2", "v1", "stable", pushed=DAY),
        artifact("app", "3", pushed=DAY),
        artifact("team/web", "4", "v2", pushed=HOUR, pulled=MINUTE),
    ]
    plan = evaluate(artifacts, [cleanup(1, always(), tag="no-such-tag")], [], NOW)
    assert plan.count(Outcome.DELETED) == 4
    assert plan.count(Outcome.KEPT) == 0
    assert [i.image for i in plan.images] == ["app", "team/web"]


@pytest.mark.parametrize(
    ("untagged", "survivors"), [(False, {"tagged"}), (True, {"tagged", "bare"})]
)
def test_untagged_artifacts_are_deleted_unless_selected(
    untagged: bool, survivors: set[str]
) -> None:
    artifacts = [artifact("app", "tagged", "v1", pushed=DAY), artifact("app", "bare", pushed=DAY)]
    plan = evaluate(artifacts, [cleanup(1, always(), untagged=untagged)], [], NOW)
    assert kept(plan, "app") == survivors


def test_a_disabled_policy_keeps_nothing_and_touches_nothing() -> None:
    artifacts = [artifact("app", str(i), f"v{i}", pushed=i * HOUR) for i in range(3)]
    alone = evaluate(artifacts, [cleanup(1, latest_pushed(1), enabled=False)], [], NOW)
    assert alone.images == ()
    mixed = [cleanup(1, latest_pushed(1)), cleanup(2, always(), enabled=False)]
    plan = evaluate(artifacts, mixed, [], NOW)
    assert kept(plan, "app") == {"0"}
    assert image_plan(plan, "app").policy_ids == (1,)


def test_images_no_policy_selects_are_left_out() -> None:
    artifacts = [
        artifact("team/app", "1", "v1", pushed=DAY),
        artifact("tmp/app", "2", "v1", pushed=DAY),
        artifact("tmp/deep/app", "3", "v1", pushed=DAY),
    ]
    only_team = evaluate(artifacts, [cleanup(1, latest_pushed(5), image="team/*")], [], NOW)
    assert [i.image for i in only_team.images] == ["team/app"]
    not_tmp = [cleanup(1, latest_pushed(5), image="tmp/**", image_include=False)]
    assert [i.image for i in evaluate(artifacts, not_tmp, [], NOW).images] == ["team/app"]


def test_counting_is_per_image_never_across_the_registry() -> None:
    artifacts = [
        artifact(image, f"{image}{i}", f"v{i}", pushed=(i + offset) * HOUR)
        for image, offset in (("x", 0), ("y", 100))
        for i in range(3)
    ]
    plan = evaluate(artifacts, [cleanup(1, latest_pushed(2))], [], NOW)
    assert kept(plan, "x") == {"x0", "x1"}
    assert kept(plan, "y") == {"y0", "y1"}


def test_the_kept_set_is_the_union_of_policies() -> None:
    artifacts = [
        artifact("app", "new-dev", "dev-3", pushed=HOUR),
        artifact("app", "old-dev", "dev-1", pushed=30 * DAY),
        artifact("app", "release", "v1.0", pushed=300 * DAY),
        artifact("app", "old-release", "v0.9", pushed=400 * DAY),
    ]
    rules = [cleanup(1, pushed_within(7), tag="dev-*"), cleanup(2, latest_pushed(1), tag="v*")]
    plan = evaluate(artifacts, rules, [], NOW)
    assert kept(plan, "app") == {"new-dev", "release"}
    assert deleted(plan, "app") == {"old-dev", "old-release"}


def test_never_pulled_artifacts_count_as_pulled_at_time_zero() -> None:
    artifacts = [
        artifact("app", "pulled", "a", pushed=10 * DAY, pulled=9 * DAY),
        artifact("app", "never-new", "b", pushed=HOUR),
        artifact("app", "never-old", "c", pushed=2 * DAY),
        artifact("app", "never-oldest", "d", pushed=3 * DAY),
    ]
    latest = evaluate(artifacts, [cleanup(1, latest_pulled(2))], [], NOW)
    # the pulled one first; among never-pulled ones the latest push wins
    assert kept(latest, "app") == {"pulled", "never-new"}
    window = evaluate(artifacts, [cleanup(1, pulled_within(MAX_DAYS))], [], NOW)
    assert kept(window, "app") == {"pulled"}


@pytest.mark.parametrize(
    ("make", "age", "is_kept"),
    [
        (pushed_within, 7 * DAY, True),  # exactly N days ago: kept
        (pushed_within, 7 * DAY + timedelta(seconds=1), False),  # more than N days: deleted
        (pulled_within, 7 * DAY, True),
        (pulled_within, 7 * DAY + timedelta(seconds=1), False),
    ],
)
def test_day_windows_keep_what_happened_at_or_after_the_cutoff(
    make: Callable[[int], Rule], age: timedelta, is_kept: bool
) -> None:
    one = artifact("app", "x", "v1", pushed=age, pulled=age)
    plan = evaluate([one], [cleanup(1, make(7))], [], NOW)
    assert (kept(plan, "app") == {"x"}) is is_kept


def test_ties_are_broken_by_time_then_digest_whatever_the_input_order() -> None:
    same_time = [artifact("app", d, f"t-{d}", pushed=DAY, pulled=HOUR) for d in ("b", "a", "c")]
    for rule in (latest_pushed(1), latest_pulled(1)):
        forward = evaluate(same_time, [cleanup(1, rule)], [], NOW)
        backward = evaluate(list(reversed(same_time)), [cleanup(1, rule)], [], NOW)
        assert kept(forward, "app") == kept(backward, "app") == {"a"}
        assert forward == backward


def test_verdicts_list_the_newest_push_first() -> None:
    artifacts = [
        artifact("app", d, pushed=age * HOUR) for d, age in (("mid", 2), ("old", 3), ("new", 1))
    ]
    plan = evaluate(artifacts, [cleanup(1, always())], [], NOW)
    assert [v.candidate.digest for v in image_plan(plan, "app").verdicts] == ["new", "mid", "old"]


# --- protection wins -----------------------------------------------------------------------


def shield(id: int, tag: str, image: str = "**", enabled: bool = True) -> ProtectionPolicy:
    return ProtectionPolicy(id, Selector(image, True), Selector(tag, True), enabled)


def test_protection_wins_over_cleanup() -> None:
    artifacts = [
        artifact("app", "newest", "v3", pushed=HOUR),
        artifact("app", "guarded", "v1", "old", pushed=DAY),
        artifact("app", "doomed", "v0", pushed=2 * DAY),
        artifact("app", "bare", pushed=3 * DAY),
    ]
    protection = [shield(4, "v1"), shield(5, "v0", enabled=False), shield(6, "**", image="other")]
    plan = evaluate(artifacts, [cleanup(1, latest_pushed(1))], protection, NOW)
    verdicts = {v.candidate.digest: v for v in image_plan(plan, "app").verdicts}
    assert verdicts["newest"].outcome is Outcome.KEPT
    assert verdicts["guarded"].outcome is Outcome.KEPT_PROTECTED
    assert verdicts["guarded"].protected_by == 4
    assert verdicts["doomed"].outcome is Outcome.DELETED  # its protection is disabled
    assert verdicts["bare"].outcome is Outcome.DELETED  # untagged: never protected
    assert [v.candidate.digest for v in plan.deletions] == ["doomed", "bare"]
    assert (plan.count(Outcome.KEPT), plan.count(Outcome.KEPT_PROTECTED)) == (1, 1)


def test_a_kept_artifact_is_kept_by_its_policy_even_when_protected() -> None:
    plan = evaluate(
        [artifact("app", "x", "v1", pushed=HOUR)], [cleanup(1, always())], [shield(2, "v1")], NOW
    )
    (verdict,) = image_plan(plan, "app").verdicts
    assert (verdict.outcome, verdict.kept_by, verdict.protected_by) == (Outcome.KEPT, (1,), None)


# --- rules, inputs and policy bookkeeping --------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: latest_pushed(0), "from 1 to 10,000"),
        (lambda: latest_pulled(MAX_COUNT + 1), "from 1 to 10,000"),
        (lambda: latest_pushed(True), "whole number"),
        (lambda: latest_pushed(2.5), "whole number"),  # type: ignore[arg-type]
        (lambda: pushed_within(0), "from 1 to 3,650"),
        (lambda: pulled_within(MAX_DAYS + 1), "from 1 to 3,650"),
        (lambda: Rule(RuleKind.ALWAYS, count=3), "takes no count"),
        (lambda: Rule(RuleKind.LATEST_PUSHED, count=3, days=2), "takes no days"),
        (lambda: Rule(RuleKind.PUSHED_WITHIN), "days is required"),
        (lambda: Rule("newest"), "unknown rule 'newest'"),  # type: ignore[arg-type]
        (lambda: Rule.of("always", 5), "takes no number"),
        (lambda: Rule.of("latest_pulled", None), "count is required"),
        (lambda: Rule.of("forever", None), "unknown rule"),
    ],
)
def test_rules_are_validated(build: Callable[[], Rule], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build()


@pytest.mark.parametrize(
    ("rule", "kind", "value", "text"),
    [
        (latest_pushed(MAX_COUNT), "latest_pushed", MAX_COUNT, "the 10000 most recently pushed"),
        (latest_pulled(1), "latest_pulled", 1, "the 1 most recently pulled"),
        (
            pushed_within(MAX_DAYS),
            "pushed_within",
            MAX_DAYS,
            "those pushed within the last 3650 days",
        ),
        (pulled_within(30), "pulled_within", 30, "those pulled within the last 30 days"),
        (always(), "always", None, "all"),
    ],
)
def test_rules_round_trip_through_storage_form(
    rule: Rule, kind: str, value: int | None, text: str
) -> None:
    assert (rule.kind, rule.value) == (kind, value)
    assert Rule.of(kind, value) == rule
    assert rule.describe() == text


def test_policy_describes_itself() -> None:
    rule = cleanup(3, latest_pushed(3), tag="v*")
    assert rule.describe() == (
        "images '**', tags 'v*', tagged only: keep the 3 most recently pushed"
    )


def test_evaluate_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate([], [], [], datetime(2026, 1, 1))
    twice = [artifact("app", "x", pushed=DAY), artifact("app", "x", "v1", pushed=DAY)]
    with pytest.raises(ValueError, match="same digest twice"):
        evaluate(twice, [cleanup(1, always())], [], NOW)


def test_nothing_to_evaluate_gives_an_empty_plan() -> None:
    assert evaluate([], [cleanup(1, always())], [], NOW) == Plan()
    assert evaluate([artifact("app", "x", pushed=DAY)], [], [], NOW) == Plan()


def test_check_duplicate_refuses_exact_duplicates_only() -> None:
    existing = [cleanup(1, latest_pushed(3), tag="v*"), cleanup(2, always(), enabled=False)]
    with pytest.raises(Conflict, match=r"tags 'v\*', tagged only: keep the 3 most recently"):
        check_duplicate(existing, cleanup(0, latest_pushed(3), tag="v*"))
    with pytest.raises(Conflict, match="keep all"):
        check_duplicate(existing, cleanup(0, always()))
    check_duplicate(existing, cleanup(0, latest_pushed(4), tag="v*"))
    check_duplicate(existing, cleanup(0, latest_pushed(3), tag="v*", untagged=True))
    check_duplicate(existing, cleanup(0, latest_pushed(3), tag="v*", tag_include=False))
    check_duplicate(existing, cleanup(1, latest_pushed(3), tag="v*", enabled=False))


def test_check_count() -> None:
    check_count([cleanup(i, always()) for i in range(MAX_POLICIES - 1)])
    with pytest.raises(Conflict, match="at most 15 cleanup policies"):
        check_count([cleanup(i, always()) for i in range(MAX_POLICIES)])
