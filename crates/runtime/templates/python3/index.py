# sedge python3 template: the classic watchdog's fork mode, one process per request.
#
# The request body arrives on stdin; whatever handler.handle returns is printed to stdout and becomes the
# response body. Same handler signature as OpenFaaS's python3 template.
#
# main() is the whole request: `python3 index.py` runs it, and so does each child of sedge's fork server
# (prebake), which imports this module once and calls main() in a fresh fork per request.
import sys

from function import handler


def get_stdin():
    """The whole request body, decoded as UTF-8 (undecodable bytes are replaced)."""
    return sys.stdin.buffer.read().decode("utf-8", errors="replace")


def main():
    sys.stdout.reconfigure(encoding="utf-8")
    ret = handler.handle(get_stdin())
    if ret is not None:
        print(ret)


if __name__ == "__main__":
    main()
