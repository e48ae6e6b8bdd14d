"""What stops an import: each has a stable code and a sentence that tells the user what to do."""

from __future__ import annotations


class ImportProblem(Exception):
    """Base of the import's errors: `code` for scripts, `message` for people."""

    exit_code = 1

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class UsageProblem(ImportProblem):
    """The file, the options or the target cannot work (found before anything is sent, or a refused key)."""

    exit_code = 2


class ImportStopped(ImportProblem):
    """The service could not be used part-way through; running the same command again resumes."""

    exit_code = 1
