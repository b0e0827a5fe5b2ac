"""The one maker of rich's consoles: the CLI's results, its spinners and the progress bar alike.

rich reads ``COLUMNS=0`` as a width of 0 columns and prints every line empty: ``optimlab list`` gave
nothing, and on a terminal the progress bar lost its last frame (the final loss and metrics). A width
below 1 is taken as no width said: the terminal's, else 80 (:func:`shutil.get_terminal_size`, which
reads no ``COLUMNS=0``). rich loads when a console is made, not when this module is imported.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console"]


def console(**options: Any) -> Console:
    """``rich.console.Console(**options)``, of the terminal's width where ``COLUMNS`` says one below 1."""
    from rich.console import Console

    made = Console(**options)
    if made.width < 1:
        made.width = shutil.get_terminal_size().columns
    return made
