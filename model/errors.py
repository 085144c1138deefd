"""One exception type for every user-facing problem (bad arch, input, checkpoint, bit width)."""


class BiRealError(Exception):
    """A problem the user can fix; the message names it (layer, file, value)."""
