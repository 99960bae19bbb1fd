"""mglib: the library behind the micro-gesture / micro-action study book.

Notebooks import it one way, ``import mglib as mg``. Importing mglib is cheap and free of side effects:
optional GPU packages (torchvision, mamba-ssm) are imported lazily by the code that can use them.
"""
from mglib import book, paths, profiles, records
from mglib.errors import InputError
from mglib.profiles import parameters
from mglib.records import Run
from mglib.seeding import seed_everything

__version__ = "0.1.0"
__all__ = ["InputError", "Run", "book", "parameters", "paths", "profiles", "records", "seed_everything"]
