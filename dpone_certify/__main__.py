import sys

from dpone_certify.cli import main

sys.exit(main())
