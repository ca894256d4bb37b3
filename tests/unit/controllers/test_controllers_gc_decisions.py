"""The garbage collector's pure decisions: background, foreground, orphan."""

from __future__ import annotations

from test_controllers_manager_support import NOW, make_pod, make_rs, owner_ref

from controllers.garbage_collector import (
    FOREGROUND_FINALIZER,
    ORPHAN_FINALIZER,
    Action,
    OwnerState,
    classify_owners,
    decide_deleting_owner,
    decide_dependent,
    state_of_owner,
    without_finalizer,
    without_owner_refs,
)


def deleting(obj, *finalizers):
    obj.metadata.deletion_timestamp.seconds = int(NOW)
    obj.metadata.finalizers.extend(finalizers)
    return obj


RS = make_rs("web", 2, uid="rs-uid")
OTHER = make_rs("other", 1, uid="other-uid")


# ------------------------------------------------------------------ owner states

def test_state_of_owner():
    assert state_of_owner(None) == OwnerState.UNKNOWN
    assert state_of_owner(make_rs(uid="u")) == OwnerState.SOLID
    assert state_of_owner(deleting(make_rs(uid="u"), FOREGROUND_FINALIZER)) == OwnerState.WAITING
    # Orphan or plain deletion: the owner still protects its dependents.
    assert state_of_owner(deleting(make_rs(uid="u"), ORPHAN_FINALIZER)) == OwnerState.SOLID
    assert state_of_owner(deleting(make_rs(uid="u"))) == OwnerState.SOLID


def test_unknown_owner_counts_as_solid():
    pod = make_pod("p", owner=RS)
    assert classify_owners(pod.metadata.owner_references, {}) == (["rs-uid"], [], [])


# ------------------------------------------------------------------ background

def test_background_dependent_of_a_gone_owner_is_deleted():
    pod = make_pod("p", owner=RS)
    d = decide_dependent(pod, {"rs-uid": OwnerState.DANGLING}, has_dependents=False)
    assert (d.action, d.propagation) == (Action.DELETE, "Background")


def test_dependent_with_a_live_owner_stays():
    pod = make_pod("p", owner=RS)
    assert decide_dependent(pod, {"rs-uid": OwnerState.SOLID}, False).action == Action.NONE


def test_dependent_with_one_gone_and_one_live_owner_loses_only_the_reference():
    pod = make_pod("p", owner=RS, refs=[owner_ref(OTHER, controller=False)])
    d = decide_dependent(pod, {"rs-uid": OwnerState.DANGLING, "other-uid": OwnerState.SOLID}, False)
    assert (d.action, d.refs) == (Action.REMOVE_REFS, ["rs-uid"])
    assert [r.uid for r in without_owner_refs(pod, d.refs).metadata.owner_references] == ["other-uid"]


def test_unconfirmed_missing_owner_never_deletes():
    pod = make_pod("p", owner=RS)
    assert decide_dependent(pod, {"rs-uid": OwnerState.UNKNOWN}, False).action == Action.NONE


def test_objects_already_being_deleted_or_without_owners_are_left_alone():
    assert decide_dependent(make_pod("p"), {}, False).action == Action.NONE
    going = make_pod("p", owner=RS, deleting=True)
    assert decide_dependent(going, {"rs-uid": OwnerState.DANGLING}, False).action == Action.NONE


# ------------------------------------------------------------------ foreground

def test_foreground_owner_waits_while_blocking_dependents_exist():
    owner = deleting(make_rs("web", uid="rs-uid"), FOREGROUND_FINALIZER)
    pods = [make_pod("a", owner=owner), make_pod("b", owner=owner, deleting=True)]
    d = decide_deleting_owner(owner, pods)
    assert d.action == Action.DELETE_DEPENDENTS
    assert [p.metadata.name for p in d.dependents] == ["a"]  # "b" is already going


def test_foreground_dependents_are_deleted_bottom_up():
    owner = deleting(make_rs("web", uid="rs-uid"), FOREGROUND_FINALIZER)
    pod = make_pod("a", owner=owner)
    d = decide_dependent(pod, {"rs-uid": OwnerState.WAITING}, has_dependents=False)
    assert (d.action, d.propagation) == (Action.DELETE, "Background")
    # A dependent with dependents of its own (a ReplicaSet of a Deployment) goes in the foreground too.
    rs = make_rs("web-abc", uid="rs2", )
    rs.metadata.owner_references.append(owner_ref(owner, kind="Deployment"))
    d = decide_dependent(rs, {"rs-uid": OwnerState.WAITING}, has_dependents=True)
    assert (d.action, d.propagation) == (Action.DELETE, "Foreground")


def test_foreground_dependent_with_another_solid_owner_is_only_unlinked():
    owner = deleting(make_rs("web", uid="rs-uid"), FOREGROUND_FINALIZER)
    pod = make_pod("a", owner=owner, refs=[owner_ref(OTHER, controller=False)])
    d = decide_dependent(pod, {"rs-uid": OwnerState.WAITING, "other-uid": OwnerState.SOLID}, False)
    assert (d.action, d.refs) == (Action.REMOVE_REFS, ["rs-uid"])


def test_foreground_finalizer_goes_when_no_blocking_dependent_is_left():
    owner = deleting(make_rs("web", uid="rs-uid"), FOREGROUND_FINALIZER)
    d = decide_deleting_owner(owner, [])
    assert (d.action, d.finalizer) == (Action.REMOVE_FINALIZER, FOREGROUND_FINALIZER)
    # Dependents that do not block (blockOwnerDeletion false) do not hold the owner.
    loose = make_pod("a")
    loose.metadata.owner_references.append(owner_ref(owner, block=False))
    assert decide_deleting_owner(owner, [loose]).action == Action.REMOVE_FINALIZER
    assert list(without_finalizer(owner, FOREGROUND_FINALIZER).metadata.finalizers) == []


# ------------------------------------------------------------------ orphan

def test_orphan_removes_references_then_the_finalizer():
    owner = deleting(make_rs("web", uid="rs-uid"), ORPHAN_FINALIZER)
    pods = [make_pod("a", owner=owner), make_pod("b", owner=owner)]
    d = decide_deleting_owner(owner, pods)
    assert (d.action, d.finalizer) == (Action.ORPHAN, ORPHAN_FINALIZER)
    assert [p.metadata.name for p in d.dependents] == ["a", "b"]
    assert decide_deleting_owner(owner, []).action == Action.REMOVE_FINALIZER
    # The orphans themselves are not garbage: their owner is still there (being deleted).
    assert decide_dependent(pods[0], {"rs-uid": state_of_owner(owner)}, False).action == Action.NONE


def test_owner_not_being_deleted_needs_nothing():
    assert decide_deleting_owner(make_rs(uid="u"), [make_pod("a")]).action == Action.NONE
