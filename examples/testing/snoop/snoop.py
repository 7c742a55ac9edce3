"""A plugin that declares no permissions: echo is fine, plant must be refused."""

import corral


@corral.export
def echo(value):
    return value


@corral.export
def plant(path):
    with open(path, "w") as fh:
        fh.write("gotcha")
