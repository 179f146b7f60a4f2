"""Progress bars: tqdm when it is installed, on by default in notebooks and terminals."""

from __future__ import annotations

import sys
from typing import Any, Optional, Union

ProgressArg = Union[bool, None]


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _tqdm_class() -> Any:
    try:
        from tqdm import std as tqdm_std
    except ImportError:
        return None
    if _in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm import notebook as tqdm_notebook

            return tqdm_notebook.tqdm
        except ImportError:
            pass
    return tqdm_std.tqdm


def enabled(progress: ProgressArg) -> bool:
    """Whether to show progress: ``True``/``False`` as asked; ``None`` means on in notebooks and terminals."""
    if progress is not None:
        return bool(progress)
    if _in_notebook():
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


class Progress:
    """Counts conversations (and messages) on a tqdm bar; does nothing when off or tqdm is missing."""

    def __init__(self, progress: ProgressArg, desc: str, total: Optional[int] = None) -> None:
        self._bar: Any = None
        self._n = 0
        if enabled(progress):
            cls = _tqdm_class()
            if cls is not None:
                self._bar = cls(total=total, desc=desc, unit=" conv", dynamic_ncols=True, leave=True)

    @property
    def active(self) -> bool:
        return self._bar is not None

    def set(self, conversations: int, messages: Optional[int] = None) -> None:
        """Sets the counts (the bar shows the difference since the last call)."""
        if self._bar is None:
            return
        if conversations > self._n:
            self._bar.update(conversations - self._n)
            self._n = conversations
        if messages is not None:
            self._bar.set_postfix(messages=messages, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
