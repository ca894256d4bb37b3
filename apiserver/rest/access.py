"""Impersonation and access reviews over HTTP: what ``kubectl --as`` and ``kubectl auth can-i`` send.

* Impersonation (Kubernetes' WithImpersonation filter): a request carrying ``Impersonate-User``
  (and any ``Impersonate-Group`` headers) is served as that user, once the caller has been
  allowed ``impersonate`` on the user (``users``, or ``serviceaccounts`` in its namespace for
  ``system:serviceaccount:<ns>:<name>``) and on each group. The rules and the resulting user are
  access_review.py's and attributes.py's, shared with the gRPC face's --as.
* ``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews``: a SelfSubjectAccessReview
  (``spec.resourceAttributes`` or ``spec.nonResourceAttributes``), answered 201 with its
  ``status.allowed`` and ``status.reason`` as the server's authorizer decides for the caller.
"""

from __future__ import annotations

from typing import Any, Mapping

from aiohttp import web

from apimachinery.identity import UserInfo
from apiserver import errors
from apiserver.auth import access_review
from apiserver.auth.attributes import (AUTHORIZATION_GROUP, Attributes, ImpersonationError, impersonated,
                                       review_attributes)
from apiserver.rest import decode
from protos import api_pb2

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"
REVIEWS = "selfsubjectaccessreviews"


def impersonation(headers: Any, caller: UserInfo) -> tuple[UserInfo, list[Attributes]]:
    """(the user to serve the request as, the impersonate attributes the caller must be allowed);
    (caller, []) without the headers; BadRequest for groups without a user."""
    user = headers.get(IMPERSONATE_USER, "")
    groups = list(headers.getall(IMPERSONATE_GROUP, [])) if hasattr(headers, "getall") else []
    if not user and not groups:
        return caller, []
    request = api_pb2.SelfSubjectAccessReviewRequest(impersonate_user=user, impersonate_groups=groups)
    try:
        target = impersonated(request)
    except ImpersonationError as err:
        raise errors.BadRequest(str(err)) from None
    assert target is not None
    return target, review_attributes(request, caller)[:-1]  # the last one is the review's own create


def _review_request(spec: Mapping[str, Any]) -> api_pb2.SelfSubjectAccessReviewRequest:
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(resource, dict) and not non_resource:
        fields = ("namespace", "verb", "group", "resource", "subresource", "name")
        return api_pb2.SelfSubjectAccessReviewRequest(resource_attributes=api_pb2.ResourceAttributes(
            **{f: str(resource.get(f) or "") for f in fields}))
    if isinstance(non_resource, dict) and not resource:
        return api_pb2.SelfSubjectAccessReviewRequest(non_resource_attributes=api_pb2.NonResourceAttributes(
            path=str(non_resource.get("path") or ""), verb=str(non_resource.get("verb") or "")))
    raise errors.Invalid(access_review.EXACTLY_ONE)


async def serve_self_subject_access_review(request: web.Request, body: bytes, user: UserInfo,
                                           authorizer: Any) -> web.Response:
    data = decode.parse_body(body, request.headers.get("Content-Type", ""))
    if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
        raise errors.BadRequest("a SelfSubjectAccessReview must be an object with a spec")
    answer = access_review.review(_review_request(data["spec"]), user, authorizer)
    status: dict[str, Any] = {"allowed": answer.allowed}
    if answer.reason:
        status["reason"] = answer.reason
    return decode.json_response({"kind": "SelfSubjectAccessReview", "apiVersion": f"{AUTHORIZATION_GROUP}/v1",
                                 "metadata": {}, "spec": data["spec"], "status": status}, 201)
