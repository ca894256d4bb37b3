"""``pykubectl create job`` and ``create cronjob``, as kubectl's generators make them.

    pykubectl create job pi --image=perl -- perl -Mbignum=bpi -wle 'print bpi(200)'
    pykubectl create job manual-1 --from=cronjob/hello     # run a CronJob's template now
    pykubectl create cronjob hello --image=busybox --schedule='*/1 * * * *' -- date

The words after ``--`` are the container's command. A Job's container is named after the
Job and restarts Never; a CronJob's restarts OnFailure (``--restart``). A Job made
``--from=cronjob/NAME`` copies the CronJob's jobTemplate, is owned by the CronJob and carries
the annotation ``cronjob.kubernetes.io/instantiate: manual``."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from apimachinery.kinds import unwrap
from kubectl.context import Context
from kubectl.errors import CliError
from protos import api_pb2, batch_pb2, meta_pb2

CRONJOB_RESTART_POLICIES = ("OnFailure", "Never")


def register(kinds: Any, common: argparse.ArgumentParser, add_output_flags: Callable[[Any], None],
             create_and_report: Callable[[Context, argparse.Namespace, Any], int]) -> None:
    job = kinds.add_parser("job", parents=[common], help="Create a job with the specified name")
    job.add_argument("name", metavar="NAME")
    job.add_argument("--image", default="", help="the container's image")
    job.add_argument("--from", dest="from_", default="", help="the resource to create a Job from: cronjob/NAME")
    add_output_flags(job)
    job.set_defaults(run=lambda args, ctx: create_and_report(ctx, args, job_object(args, ctx)),
                     takes_command=True, command=[])
    cronjob = kinds.add_parser("cronjob", aliases=["cj"], parents=[common],
                               help="Create a cronjob with the specified name")
    cronjob.add_argument("name", metavar="NAME")
    cronjob.add_argument("--image", default="", help="the container's image")
    cronjob.add_argument("--schedule", default="", help="a schedule in the Cron format")
    cronjob.add_argument("--restart", default="OnFailure", help="the restartPolicy: OnFailure (default) or Never")
    add_output_flags(cronjob)
    cronjob.set_defaults(run=lambda args, ctx: create_and_report(ctx, args, cronjob_object(args)),
                         takes_command=True, command=[])


def _template(spec: batch_pb2.JobSpec, name: str, image: str, command: list[str], restart: str) -> None:
    pod_spec = spec.template.spec
    pod_spec.containers.add(name=name, image=image, command=command)
    pod_spec.restart_policy = restart


def job_object(args: argparse.Namespace, ctx: Context) -> batch_pb2.Job:
    if args.from_:
        if args.image or args.command:
            raise CliError("either --image or --from must be specified, not both")
        return job_from_cronjob(args.name, _cronjob(ctx, args.from_))
    if not args.image:
        raise CliError("either --image or --from must be specified")
    job = batch_pb2.Job(metadata=meta_pb2.ObjectMeta(name=args.name))
    _template(job.spec, args.name, args.image, list(args.command), "Never")
    return job


def _cronjob(ctx: Context, reference: str) -> batch_pb2.CronJob:
    kind, _, name = reference.partition("/")
    if kind.lower() not in ("cronjob", "cronjobs", "cj", "cronjob.batch", "cronjobs.batch") or not name:
        raise CliError(f"from must be an existing cronjob: {reference}")
    got = ctx.api.Get(api_pb2.GetRequest(kind="CronJob", namespace=ctx.namespace, name=name))
    return unwrap(got)  # type: ignore[return-value]


def job_from_cronjob(name: str, cronjob: batch_pb2.CronJob) -> batch_pb2.Job:
    template = cronjob.spec.job_template
    job = batch_pb2.Job(metadata=meta_pb2.ObjectMeta(name=name, namespace=cronjob.metadata.namespace))
    job.metadata.labels.update(template.metadata.labels)
    job.metadata.annotations["cronjob.kubernetes.io/instantiate"] = "manual"
    job.metadata.annotations.update(template.metadata.annotations)
    job.metadata.owner_references.add(api_version="batch/v1", kind="CronJob", name=cronjob.metadata.name,
                                      uid=cronjob.metadata.uid, controller=True)
    job.spec.CopyFrom(template.spec)
    return job


def cronjob_object(args: argparse.Namespace) -> batch_pb2.CronJob:
    if not args.image:
        raise CliError('required flag(s) "image" not set')
    if not args.schedule:
        raise CliError('required flag(s) "schedule" not set')
    if args.restart not in CRONJOB_RESTART_POLICIES:
        raise CliError(f"invalid restart policy: {args.restart}")
    cronjob = batch_pb2.CronJob(metadata=meta_pb2.ObjectMeta(name=args.name))
    cronjob.spec.schedule = args.schedule
    cronjob.spec.job_template.metadata.name = args.name
    _template(cronjob.spec.job_template.spec, args.name, args.image, list(args.command), args.restart)
    return cronjob
