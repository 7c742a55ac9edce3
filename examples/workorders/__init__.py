"""A small work-order application that lets plugins in through host functions and a hook."""
