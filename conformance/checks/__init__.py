"""Check modules; importing this package registers them all."""

from . import callbacks, fees, idempotency, protocol, rest, robustness, schema, state  # noqa: F401
