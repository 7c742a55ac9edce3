"""``python -I -B -m corral.worker CONTROL_FD``: start the zygote."""

import sys

from corral.worker.zygote import main

main(sys.argv)
