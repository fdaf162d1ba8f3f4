"""The one error type every command raises for a problem the user can fix."""


class ParatuneError(Exception):
    """A clear, one-line problem; ``paratune`` prints it and exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code
