"""vats library: the GWT-RPC codec, the browser session and the typed models of the MTS cabinet."""

__version__ = "0.1.0"
