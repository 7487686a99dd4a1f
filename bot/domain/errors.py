"""The project's one exception hierarchy.

- ``UserError``: the user asked for something we cannot do; the message is shown to them as is
  (ephemerally in Discord, one line on stderr with exit status 2 in the CLI).
- ``ConfigError``: the operator's configuration is wrong; the message names the key.
- ``GenerationError``: a job failed while generating (out of memory, a broken model); the user is
  told the reason and the worker carries on.
- Anything else is a bug: logged with context and shown as a short apology with a reference id.
"""


class NeurostreamError(Exception):
    """Base of every error neurostream raises on purpose."""


class UserError(NeurostreamError):
    """A request the user can fix; the message names the problem and is shown to them."""


class ValidationError(UserError, ValueError):
    """A request value is out of range; the message names the value and the allowed range."""


class ConfigError(NeurostreamError):
    """The configuration is invalid; the message names the key and the allowed values."""


class GenerationError(NeurostreamError):
    """A generation failed for a reason worth telling its user (e.g. out of GPU memory)."""


class GenerationCancelled(NeurostreamError):
    """A generation was cancelled between two denoising steps."""


class OutOfMemory(GenerationError):
    """The device ran out of memory; the queue retries a batch at half its size."""


class RendererLost(GenerationError):
    """The renderer (a Ray Serve replica) died during the job; the queue retries it once."""


class RenderersUnreachable(NeurostreamError):
    """The renderers cannot be reached; the queue keeps the jobs and waits for them."""
