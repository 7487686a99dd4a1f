"""Discord extensions: each parses options, calls one service and renders the answer."""
