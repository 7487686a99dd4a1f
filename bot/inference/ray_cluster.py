"""Starting the Ray Serve renderers (``bot.inference.ray_serve``): on a small Ray instance of the
bot's own (``[backend] address = "local"``), or on a cluster for ``neurostream serve``.

Every function here blocks (seconds: Ray starts, then each replica loads its model before it
is ready): call them off the event loop. Ray is imported inside them.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.inference.ray_serve import APP_NAME, ROUTE, Renderer, RendererConfig

if TYPE_CHECKING:
    from bot.config import Settings


@dataclass(frozen=True, slots=True)
class ClusterShape:
    """How many replicas, and what each one reserves of the cluster."""

    replicas: int = 1
    cpus_per_replica: float = 1.0
    gpus_per_replica: float = 0.0


def from_settings(settings: Settings) -> tuple[RendererConfig, ClusterShape]:
    """The replicas' config and the cluster's shape from the model catalogue (``[model]``,
    ``[models.<name>]``), ``[loras]``, ``[worker]`` and ``[backend]``."""
    backend = settings.backend
    # Each replica's torch uses the CPUs it reserved, not every core of the machine.
    threads = settings.worker.torch_threads or max(1, round(backend.cpus_per_replica))
    config = RendererConfig(catalog=settings.catalog, torch_threads=threads,
                            max_batch_size=backend.max_batch_size,
                            models_per_replica=backend.models_per_replica,
                            lora_dirs=tuple(str(settings.path(d)) for d in settings.loras.dirs),
                            keep_loras=settings.loras.keep_loaded)
    shape = ClusterShape(backend.replicas, backend.cpus_per_replica, backend.gpus_per_replica)
    return config, shape


HEALTH_CHECK_TIMEOUT_S = 120.0
# Serve reads these when its controller starts (the default ready check is 5 s, growing by 5 s
# a try, 3 tries: a proxy that imports its web stack slowly on a busy CPU was killed).
PROXY_HEALTH_CHECK = {"RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "60",
                      "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30"}


def renderer_app(config: RendererConfig, shape: ClusterShape) -> Any:
    """The Serve application (not yet running)."""
    from ray import serve

    actor: dict[str, float] = {"num_cpus": shape.cpus_per_replica}
    if shape.gpus_per_replica:
        actor["num_gpus"] = shape.gpus_per_replica
    deployment = serve.deployment(
        name="Renderer", num_replicas=shape.replicas, ray_actor_options=actor,
        # Room for a second request to wait on a replica, so that serve.batch can merge it.
        max_ongoing_requests=max(2, 2 * config.max_batch_size),
        # A replica busy rendering on a loaded CPU answers its health check late, not never:
        # a generous timeout keeps it from being killed mid-job (a dead actor is reported at
        # once, without the health check).
        graceful_shutdown_timeout_s=5, health_check_period_s=5,
        health_check_timeout_s=HEALTH_CHECK_TIMEOUT_S)(Renderer)
    return deployment.bind(config)


def free_port() -> int:
    """A TCP port nobody listens on now, on localhost."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lenient_proxy_checks() -> None:
    """Serve's HTTP proxy is declared dead after 3 health or ready checks of 5–15 s go
    unanswered; on a busy 2-core machine (the renderers' torch threads included) that happened
    with the proxy alive. The processes of an instance started from here inherit this
    environment; an operator's own setting wins."""
    for name, value in PROXY_HEALTH_CHECK.items():
        os.environ.setdefault(name, value)


def _quiet_serve() -> None:
    # Serve logs every start-up step at INFO on the driver: the bot's log wants the outcome.
    logging.getLogger("ray.serve").setLevel(logging.WARNING)


def init_local(*, cpus: int, gpus: bool = False) -> None:
    """Start a new Ray instance of this process's own (never another program's), small for a
    bot's machine: no dashboard, an 80 MiB object store (only text crosses it), ``cpus`` CPUs,
    the machine's GPUs only when ``gpus``. Serve's proxy checks are lenient in it."""
    import ray

    # Set before ray.init: the instance's processes take their environment from this one then.
    _lenient_proxy_checks()
    ray.init(address="local", num_cpus=cpus, num_gpus=None if gpus else 0,
             include_dashboard=False, object_store_memory=80 * 2**20,
             logging_level=logging.WARNING, log_to_driver=False)


def start_local(config: RendererConfig, shape: ClusterShape) -> str:
    """Start a small Ray instance in this process (``init_local``, as many CPUs as the
    replicas reserve) unless one runs, and the application on it; the base URL of its HTTP
    proxy (localhost only)."""
    import ray
    from ray import serve

    _quiet_serve()
    if not ray.is_initialized():
        init_local(cpus=max(1, math.ceil(shape.replicas * shape.cpus_per_replica)),
                   gpus=bool(shape.gpus_per_replica))
    port = free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port},
                logging_config={"log_level": "WARNING"})
    serve.run(renderer_app(config, shape), name=APP_NAME, route_prefix=ROUTE)
    return f"http://127.0.0.1:{port}"


def stop_local() -> None:
    """Stop the application and the Ray instance ``start_local`` started."""
    import ray
    from ray import serve

    if ray.is_initialized():
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


def deploy(config: RendererConfig, shape: ClusterShape, *, host: str, port: int
           ) -> tuple[str, int]:
    """Run the application on the Ray cluster of this machine (``ray start --head``), or on a
    new local instance when there is none; Serve's proxy listens on ``host:port`` on every
    node. Returns where it listens: a cluster whose Serve already runs keeps its own port."""
    import ray
    from ray import serve

    _quiet_serve()
    try:
        ray.init(address="auto", logging_level=logging.WARNING)
    except ConnectionError:  # no cluster here: this machine alone
        _lenient_proxy_checks()
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
    serve.start(proxy_location="EveryNode", http_options={"host": host, "port": port})
    serve.run(renderer_app(config, shape), name=APP_NAME, route_prefix=ROUTE)
    try:  # Serve's own record (not a public API: fall back to what was asked for)
        from ray.serve.context import _get_global_client

        client = _get_global_client()
        if client is not None:
            return str(client.http_config.host), int(client.http_config.port)
    except Exception:  # the requested address is the best guess left
        pass
    return host, port


def undeploy() -> None:
    """Delete the application (the cluster keeps running) and disconnect."""
    import ray
    from ray import serve

    try:
        serve.delete(APP_NAME)
    finally:
        ray.shutdown()
