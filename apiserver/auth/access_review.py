"""Access reviews: Kubernetes' SelfSubjectAccessReview (authorization.k8s.io/v1), what
``kubectl auth can-i`` asks, and impersonation for its ``--as``/``--as-group``.

* Authorizing the call (``attributes.review_attributes``, used by the filter chain): a self review is
  a ``create`` of ``selfsubjectaccessreviews.authorization.k8s.io``, which the bootstrap
  role system:basic-user grants every authenticated user, so it needs nothing beyond
  authentication. With impersonation, as Kubernetes' impersonation filter, the caller must
  be allowed ``impersonate`` on ``users`` (named the user), ``groups`` (each group), or
  ``serviceaccounts`` (for ``system:serviceaccount:<ns>:<name>``, in that namespace); then
  the impersonated user is the one creating the review.
* Answering it (``review``): the server's authorizer decides the reviewed attributes for
  the (impersonated) user; allowed, and the authorizer's reason.

pykube chose impersonation over SubjectAccessReview (``spec.user``, for whoever may create
subjectaccessreviews): it is what kubectl does for ``--as``, and it needs no second rule."""

from __future__ import annotations

from apimachinery.identity import UserInfo
from apiserver import errors
from apiserver.auth.attributes import Attributes, Authorizer, ImpersonationError, impersonated
from protos import api_pb2

EXACTLY_ONE = ('SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: '
               '"null": exactly one of nonResourceAttributes or resourceAttributes must be specified')


def reviewed_attributes(request: api_pb2.SelfSubjectAccessReviewRequest, user: UserInfo) -> Attributes:
    which = request.WhichOneof("attributes")
    if which == "resource_attributes":
        r = request.resource_attributes
        return Attributes(user, r.verb, r.group, r.resource, r.subresource, r.namespace, r.name)
    if which == "non_resource_attributes":
        n = request.non_resource_attributes
        return Attributes(user, n.verb, "", "", path=n.path or "/")
    raise errors.Invalid(EXACTLY_ONE)


def review(request: api_pb2.SelfSubjectAccessReviewRequest, caller: UserInfo,
           authorizer: Authorizer | None) -> api_pb2.SubjectAccessReviewStatus:
    try:
        user = impersonated(request) or caller
    except ImpersonationError as err:
        raise errors.BadRequest(str(err)) from None
    attrs = reviewed_attributes(request, user)
    if authorizer is None:  # AlwaysAllow
        return api_pb2.SubjectAccessReviewStatus(allowed=True)
    decision = authorizer.authorize(attrs)
    return api_pb2.SubjectAccessReviewStatus(allowed=decision.allowed, reason=decision.reason)
