"""Check modules; importing this package registers them all."""

from . import callbacks, fees, idempotency, protocol, robustness, schema, state  # noqa: F401
