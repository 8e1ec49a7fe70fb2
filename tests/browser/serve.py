"""Serve the app for the browser tests: werkzeug's threaded server on 127.0.0.1, a free port.

Run as a subprocess with the configuration in the environment (DATABASE_URL, UPLOAD_DIR, ...);
prints the port on the first line of stdout, then serves until terminated. Requests are logged
to stderr, so the tests can see every status the browser got.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from werkzeug.serving import make_server  # noqa: E402

from app import create_app  # noqa: E402


def main() -> None:
    app = create_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
