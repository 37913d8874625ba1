"""The conformance suite: registered checks, most derived from the spec, run against any
implementation of the interface over HTTP."""
