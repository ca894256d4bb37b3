"""What every pykube server process shares at run time, whatever it serves (like
Kubernetes' k8s.io/component-base): logging set-up (``component_base.logs``),
command-line flags derived from a component's config dataclass
(``component_base.flags``, so each default is written once, on the dataclass), and
serving in the foreground until SIGTERM (``component_base.service``).

Talking to the apiserver is not here: that is ``client/``."""
