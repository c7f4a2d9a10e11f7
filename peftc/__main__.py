"""`python -m peftc` runs the command line (used by launch.sh under accelerate)."""

import sys

from peftc.cli import main

sys.exit(main())
