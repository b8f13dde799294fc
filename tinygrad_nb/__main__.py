"""`python -m tinygrad_nb` is the `tinygrad-nb` command."""
import sys

from .cli import main

sys.exit(main())
