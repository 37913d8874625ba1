"""The mock supplier: a stateful, signed, spec-driven implementation of the YBX interface."""
