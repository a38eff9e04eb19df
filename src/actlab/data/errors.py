"""The one exception type of the data layer."""


class DataError(ValueError):
    """A dataset could not be found, read or split.

    The message says what was wrong, what was expected and what to do about it.
    It subclasses ValueError so the CLI prints it as a user error, not a traceback.
    """
