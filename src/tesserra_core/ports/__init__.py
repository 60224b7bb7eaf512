"""The core's interfaces to the outside world (typing.Protocol). Adapters implement them."""
