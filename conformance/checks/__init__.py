"""Check modules; importing this package registers them all."""

from . import callbacks, fees, filled, idempotency, protocol, rest, returns, robustness, schema, state  # noqa: F401
from . import theater  # noqa: F401  (seat states and mode refusals)
