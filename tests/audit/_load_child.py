"""A host under audit load, to be killed with SIGKILL by test_durability.py.

Several threads record through ``Host.record``: denials (acknowledged when
``record`` returns) and call completions (queued; acknowledged when a
``flush`` after them returns). Each thread prints the tokens of its events on
stdout only once they are acknowledged, one per line.
"""

import sys
import threading

import corral

target, home = sys.argv[1], sys.argv[2]
host = corral.Host(home=home, audit=target)
lock = threading.Lock()


def report(tokens):
    with lock:
        sys.stdout.write("".join(t + "\n" for t in tokens))
        sys.stdout.flush()


def denials(k):
    n = 0
    while True:
        token = f"deny-{k}-{n}"
        host.record("denied", "loadtest", "deny", source="worker", token=token)
        report([token])
        n += 1


def completions(k):
    n = 0
    while True:
        tokens = []
        for _ in range(25):
            token = f"call-{k}-{n}"
            host.record("call.completed", "loadtest", "allow", token=token)
            tokens.append(token)
            n += 1
        host.audit.flush()
        report(tokens)


for k in range(3):
    threading.Thread(target=denials, args=(k,), daemon=True).start()
    threading.Thread(target=completions, args=(k,), daemon=True).start()
threading.Event().wait()
