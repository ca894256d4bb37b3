"""Jobs and CronJobs through the Registry: Kubernetes' defaults, the generated selector,
and validation messages."""

from __future__ import annotations

from typing import Any

import pytest

from apimachinery.convert import from_dict, to_dict
from apiserver import errors
from apiserver.registry.registry import Registry
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore(), WatchCache())


def pod_template(restart_policy: str | None = "Never") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}]}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return {"spec": spec}


def job(name: str = "pi", **spec: Any) -> Any:
    spec.setdefault("template", pod_template())
    return from_dict({"apiVersion": "batch/v1", "kind": "Job",
                      "metadata": {"name": name, "namespace": "default"}, "spec": spec})


def cronjob(name: str = "tick", schedule: str = "*/5 * * * *", **spec: Any) -> Any:
    spec.setdefault("jobTemplate", {"spec": {"template": pod_template("OnFailure")}})
    return from_dict({"apiVersion": "batch/v1", "kind": "CronJob",
                      "metadata": {"name": name, "namespace": "default"},
                      "spec": {"schedule": schedule, **spec}})


def refused(call: Any, *args: Any) -> str:
    with pytest.raises(errors.Invalid) as err:
        call(*args)
    return err.value.message


def test_job_defaults_and_generated_selector(registry: Registry) -> None:
    created = registry.create(job())
    uid = created.metadata.uid
    spec = to_dict(created)["spec"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
        "batch.kubernetes.io/job-name": "pi", "job-name": "pi"}


def test_job_parallelism_alone_leaves_completions_unset(registry: Registry) -> None:
    spec = to_dict(registry.create(job(parallelism=3)))["spec"]
    assert spec["parallelism"] == 3 and "completions" not in spec


@pytest.mark.parametrize("field", ["parallelism", "completions", "backoffLimit"])
def test_job_counts_must_not_be_negative(registry: Registry, field: str) -> None:
    message = refused(registry.create, job(**{field: -1}))
    assert message.startswith('Job.batch "pi" is invalid: ')
    assert f"spec.{field}: Invalid value: -1: must be greater than or equal to 0" in message


def test_job_restart_policy_must_be_on_failure_or_never(registry: Registry) -> None:
    for policy in ("Always", None):  # an unset one defaults to Always, as for every Pod
        message = refused(registry.create, job(template=pod_template(policy)))
        assert ('spec.template.spec.restartPolicy: Unsupported value: "Always": '
                'supported values: "OnFailure", "Never"') in message


def test_job_manual_selector_must_match_template(registry: Registry) -> None:
    template = pod_template()
    template["metadata"] = {"labels": {"app": "x"}}
    message = refused(registry.create, job(manualSelector=True, selector={"matchLabels": {"app": "y"}},
                                           template=template))
    assert "`selector` does not match template `labels`" in message
    created = registry.create(job(manualSelector=True, selector={"matchLabels": {"app": "x"}}, template=template))
    assert dict(created.spec.template.metadata.labels) == {"app": "x"}


def test_job_selector_without_manual_selector_is_refused(registry: Registry) -> None:
    message = refused(registry.create, job(selector={"matchLabels": {"batch.kubernetes.io/controller-uid": "x"}}))
    assert "`selector` not auto-generated" in message


def test_job_template_is_immutable(registry: Registry) -> None:
    changed = type(registry.create(job()))()
    changed.CopyFrom(registry.get("Job", "default", "pi"))  # the cache's object is not ours to change
    changed.spec.template.spec.containers[0].image = "busybox:2"
    message = refused(registry.update, changed)
    assert "spec.template: Invalid value" in message and "field is immutable" in message
    fresh = type(changed)()
    fresh.CopyFrom(registry.get("Job", "default", "pi"))
    fresh.spec.parallelism = 4  # parallelism may change
    assert registry.update(fresh).spec.parallelism == 4


def test_job_indexed_completion_mode_is_not_supported(registry: Registry) -> None:
    message = refused(registry.create, job(completionMode="Indexed"))
    assert 'spec.completionMode: Unsupported value: "Indexed": supported values: "NonIndexed"' in message


def test_cronjob_defaults(registry: Registry) -> None:
    spec = to_dict(registry.create(cronjob()))["spec"]
    assert spec["concurrencyPolicy"] == "Allow" and spec["suspend"] is False
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    job_spec = spec["jobTemplate"]["spec"]
    assert (job_spec["parallelism"], job_spec["completions"], job_spec["backoffLimit"]) == (1, 1, 6)
    assert "selector" not in job_spec


@pytest.mark.parametrize("schedule, detail", [
    ("foo", "expected exactly 5 fields, found 1: [foo]"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("* * * * * *", "expected exactly 5 fields, found 6"),
    ("TZ=UTC * * * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
])
def test_cronjob_invalid_schedule(registry: Registry, schedule: str, detail: str) -> None:
    message = refused(registry.create, cronjob(schedule=schedule))
    assert message.startswith('CronJob.batch "tick" is invalid: ')
    assert f'spec.schedule: Invalid value: "{schedule}": {detail}' in message


def test_cronjob_schedule_is_required(registry: Registry) -> None:
    assert "spec.schedule: Required value" in refused(registry.create, cronjob(schedule=""))


def test_cronjob_time_zone_and_policy(registry: Registry) -> None:
    assert registry.create(cronjob(timeZone="Europe/Berlin")).spec.time_zone == "Europe/Berlin"
    message = refused(registry.create, cronjob(name="b", timeZone="Mars/Olympus"))
    assert 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' in message
    message = refused(registry.create, cronjob(name="c", concurrencyPolicy="Sometimes"))
    assert ('spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: '
            '"Allow", "Forbid", "Replace"') in message


def test_cronjob_job_template_is_validated(registry: Registry) -> None:
    message = refused(registry.create, cronjob(jobTemplate={"spec": {"template": pod_template("Always"),
                                                                     "backoffLimit": -1}}))
    assert "spec.jobTemplate.spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0" in message
    assert 'spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always"' in message


def test_cronjob_name_leaves_room_for_job_suffix(registry: Registry) -> None:
    message = refused(registry.create, cronjob(name="a" * 53))
    assert "must be no more than 52 characters" in message


def test_the_examples_are_accepted(registry: Registry) -> None:
    from pathlib import Path

    from kubectl.manifest import load_objects
    examples = Path(__file__).resolve().parents[3] / "examples"
    for name in ("job-countdown.yaml", "cronjob-hello.yaml"):
        (obj,) = load_objects([str(examples / name)])
        obj.metadata.namespace = "default"
        assert registry.create(obj).metadata.uid


def test_jobs_select_on_status_successful(registry: Registry) -> None:
    created = registry.create(job())
    done = type(created)()
    done.CopyFrom(created)
    done.status.succeeded = 1
    registry.update_status(done)
    assert [j.metadata.name for j in registry.list("Job", "default", field_selector="status.successful=1")[0]] == \
        ["pi"]
    assert registry.list("Job", "default", field_selector="status.successful=0")[0] == []
