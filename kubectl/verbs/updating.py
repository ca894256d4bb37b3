"""Read, change, write back: how the verbs that edit an object (scale, cordon, rollout
undo/restart) update it without losing anybody else's change.

Update is a compare-and-swap on metadata.resourceVersion: the server refuses (ABORTED,
kubectl's "Conflict") when the object changed since we read it, e.g. because the
Deployment controller wrote its annotations in between. Then we read it again and
re-apply our change to the fresh copy, as client-go's ``retry.RetryOnConflict`` does.
"""

from __future__ import annotations

from typing import Any, Callable

import grpc
from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, unwrap, wrap
from client.api import is_conflict
from protos import api_pb2

# client-go's retry.DefaultRetry makes 5 attempts.
CONFLICT_ATTEMPTS = 5

# change(obj) edits obj in place and says whether anything needs writing.
Change = Callable[[Message], bool]


def get_object(stub: Any, info: KindInfo, namespace: str, name: str) -> Message:
    """The object, or the server's NotFound (a grpc.RpcError main prints as kubectl does)."""
    return unwrap(stub.Get(api_pb2.GetRequest(kind=info.kind, namespace=namespace if info.namespaced else "",
                                              name=name)))


def update_with_retry(stub: Any, info: KindInfo, namespace: str, name: str, change: Change,
                      attempts: int = CONFLICT_ATTEMPTS, dry_run: bool = False) -> tuple[Message, bool]:
    """Apply ``change`` to the current object and Update it with the resourceVersion read.

    Returns the object as written (or as read, when ``change`` found nothing to do) and
    whether it was written. A conflict on the last attempt is raised to the caller.
    ``dry_run``: the server validates the update and answers with it, but stores nothing.
    """
    for attempt in range(attempts):
        obj = get_object(stub, info, namespace, name)
        if not change(obj):
            return obj, False
        try:
            return unwrap(stub.Update(api_pb2.UpdateRequest(object=wrap(obj), dry_run=dry_run))), True
        except grpc.RpcError as err:
            if not is_conflict(err) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
