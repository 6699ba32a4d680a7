"""Deleting several tags at once records one delete event per tag, as single deletes do, in
the same transaction: a refused request records none."""

from __future__ import annotations

import pytest

from moorage.domain.content.errors import TagNotFound
from moorage.oci import mediatypes as mt
from tests.contract.test_webhook_store import Env, env, get_image, link_config, manifest, spec

__all__ = ["env"]  # the fixture, shared with the webhook store's tests


def test_each_deleted_tag_is_one_delete_event(env: Env) -> None:
    hook = env.webhooks.create("reg", spec())
    link_config(env)
    pushed = env.artifacts.put_manifest("reg/app", "v1", mt.OCI_MANIFEST, manifest(), "alice")
    env.artifacts.tag_artifact("reg/app", "v1", "stable")
    with pytest.raises(TagNotFound):
        env.artifacts.delete_tags("reg/app", ["stable", "nope"], "bob")
    env.artifacts.delete_tags("reg/app", ["stable", "v1", "stable"], "bob")
    with env.db.uow() as store:
        deliveries, _ = store.outbox.list_deliveries(hook.id, None, 0, 10)
        events = [store.outbox.get_event(d.event_id) for d in reversed(deliveries)]
    with env.db.uow() as store:
        assert store.tags.list_tags(get_image(env).id, None, None) == []
    summary = [(e.type, e.operator, e.data["tags"], e.data["digest"]) for e in events if e]
    assert summary == [
        ("PUSH_ARTIFACT", "alice", ["v1"], pushed.digest),
        ("DELETE_ARTIFACT", "bob", ["stable"], pushed.digest),
        ("DELETE_ARTIFACT", "bob", ["v1"], pushed.digest),
    ]
