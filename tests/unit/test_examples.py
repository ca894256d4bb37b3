"""examples/: the seed's Deployments and Services decode as the objects the course names (what
`pykubectl apply -f examples/...` sends), with Kubernetes' field names only."""

from __future__ import annotations

from pathlib import Path

from kubectl.manifest import load_objects

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    (obj,) = load_objects([str(EXAMPLES / name)])
    return obj


def test_the_client_deployment_serves_http_on_3000_with_a_readiness_probe() -> None:
    client = load("multi-client.yaml")
    assert (client.kind, client.metadata.name, client.spec.replicas) == ("Deployment", "multi-client", 3)
    assert dict(client.spec.selector.match_labels) == {"component": "web"}
    assert dict(client.spec.template.metadata.labels) == {"component": "web"}
    (container,) = client.spec.template.spec.containers
    assert container.image == "docker.io/library/multi-client:1.0"
    assert [(p.name, p.container_port) for p in container.ports] == [("http", 3000)]
    assert container.readiness_probe.http_get.port.str_val == "http"


def test_the_client_node_port_service_has_the_course_numbers() -> None:
    service = load("client-node-port.yaml")
    assert (service.kind, service.metadata.name, service.spec.type) == ("Service", "client-node-port", "NodePort")
    assert dict(service.spec.selector) == {"component": "web"}
    (port,) = service.spec.ports
    assert (port.port, port.target_port.int_val, port.node_port) == (3050, 3000, 31515)


def test_the_worker_service_is_a_cluster_ip_on_8080() -> None:
    service = load("multi-worker-service.yaml")
    assert (service.kind, service.metadata.name, service.spec.type) == ("Service", "multi-worker", "ClusterIP")
    assert dict(service.spec.selector) == {"component": "worker"}
    (port,) = service.spec.ports
    assert (port.port, port.target_port.int_val) == (8080, 8080)
    worker = load("multi-worker.yaml")
    assert dict(worker.spec.template.metadata.labels)["component"] == "worker"


def test_the_batch_examples_are_a_job_and_a_cronjob() -> None:
    job = load("job-countdown.yaml")
    assert (job.kind, job.spec.completions, job.spec.parallelism, job.spec.ttl_seconds_after_finished) == (
        "Job", 3, 2, 600)
    assert job.spec.template.spec.restart_policy == "Never"
    cron_job = load("cronjob-hello.yaml")
    assert (cron_job.kind, cron_job.spec.schedule, cron_job.spec.concurrency_policy) == ("CronJob", "* * * * *",
                                                                                          "Forbid")
    assert cron_job.spec.job_template.spec.template.spec.restart_policy == "OnFailure"


def test_the_daemonset_and_statefulset_examples_decode_and_validate() -> None:
    from apiserver.registry.sets import DaemonSetStrategy, StatefulSetStrategy

    ds = load("node-agent-daemonset.yaml")
    assert (ds.kind, ds.metadata.name, ds.spec.update_strategy.rolling_update.max_unavailable.int_val) == (
        "DaemonSet", "node-agent", 1)
    sts = load("web-statefulset.yaml")
    assert (sts.kind, sts.spec.service_name, sts.spec.replicas, sts.spec.pod_management_policy) == (
        "StatefulSet", "web", 3, "OrderedReady")
    [claim] = sts.spec.volume_claim_templates
    assert (claim.metadata.name, list(claim.spec.access_modes), claim.spec.resources.requests["storage"]) == (
        "data", ["ReadWriteOnce"], "1Gi")
    for strategy, obj in ((DaemonSetStrategy(), ds), (StatefulSetStrategy(), sts)):
        obj.metadata.namespace = "default"
        strategy.default(obj)
        assert strategy.validate(obj) == []


def test_the_course_app_directory_applies_in_order_and_validates() -> None:
    """examples/complex/ as `pykubectl apply -f examples/complex/` reads it: the files by name
    (config first, then the store, its migration, the API, worker, agent, web), every object valid."""
    from apiserver.registry.registry import Registry
    from cluster.images import COURSE_IMAGES
    from apiserver.storage.memory import MemoryStore
    from apiserver.watchcache import WatchCache

    objects = load_objects([str(EXAMPLES / "complex")])
    assert [(o.kind, o.metadata.name) for o in objects] == [
        ("ConfigMap", "course-config"), ("Secret", "course-api-token"), ("Service", "kv"), ("StatefulSet", "kv"),
        ("Job", "migrate"), ("Service", "api"), ("Deployment", "api"), ("Deployment", "worker"),
        ("DaemonSet", "node-agent"), ("Service", "web"), ("Deployment", "web")]
    strategies = Registry(MemoryStore(), WatchCache()).strategies
    for obj in objects:
        obj.metadata.namespace = "course"
        strategies[obj.kind].default(obj)
        assert [str(e) for e in strategies[obj.kind].validate(obj)] == [], (obj.kind, obj.metadata.name)
    kv = objects[3]
    [claim] = kv.spec.volume_claim_templates
    assert not claim.spec.HasField("storage_class_name")  # the default class: local-path
    assert kv.spec.template.spec.containers[0].volume_mounts[0].name == claim.metadata.name
    web = objects[-2]
    assert (web.spec.type, web.spec.ports[0].node_port) == ("NodePort", 31580)
    images = {c.image for o in objects if o.kind in ("StatefulSet", "Job", "Deployment", "DaemonSet")
              for c in o.spec.template.spec.containers}
    assert images == {i.reference() for i in COURSE_IMAGES}  # every image is a lab image
