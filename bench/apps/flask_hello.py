"""The Flask app of the gateway benchmark (bench/run, "gateways"): `Hello world!` at /.

Served two ways side by side: by the WSGI gateway (python3 -m tempest.wsgi flask_hello:app) behind
the front, and by werkzeug, Flask's own server (python3 flask_hello.py PORT), directly.
"""
import sys

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello world!", 200, {"Content-Type": "text/plain"}


if __name__ == "__main__":
    from werkzeug.serving import run_simple
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
