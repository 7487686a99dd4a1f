"""The live wall: a read-only web page for a projector, fed by server-sent events."""
