"""A real Flask application for the WSGI gateway's tests (test_wsgi.py)."""
from flask import Flask, Response, jsonify, make_response, request, stream_with_context

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from flask"


@app.route("/env")
def env():
    e = request.environ
    keys = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT",
            "SERVER_PROTOCOL", "REMOTE_ADDR", "wsgi.url_scheme", "HTTP_X_CUSTOM", "CONTENT_TYPE", "CONTENT_LENGTH")
    return jsonify({k: e.get(k) for k in keys})


@app.route("/path/<name>")
def path(name):
    return jsonify(name=name, path=request.path, raw=request.environ["PATH_INFO"])


@app.route("/json", methods=["POST"])
def json_echo():
    data = request.get_json()
    return jsonify(got=data, q=request.args.get("q")), 201


@app.route("/form", methods=["POST"])
def form():
    return f"name={request.form['name']} tags={','.join(request.form.getlist('tag'))}"


@app.route("/upload", methods=["PUT"])
def upload():
    return Response(request.get_data()[::-1], mimetype="application/octet-stream")


@app.route("/cookies")
def cookies():
    r = make_response(f"a={request.cookies.get('a')} b={request.cookies.get('b')}")
    r.set_cookie("one", "1")
    r.set_cookie("two", "2", httponly=True)
    return r


@app.route("/boom")
def boom():
    raise RuntimeError("boom")


@app.route("/unicode")
def unicode():
    return "héllo ☃ 😀"


@app.route("/binary")
def binary():
    return Response(bytes(range(256)), mimetype="application/octet-stream")


@app.route("/stream")
def stream():
    return Response(stream_with_context(f"part{i};" for i in range(3)), mimetype="text/plain")


@app.route("/redirect")
def redirect():
    return "", 302, {"Location": "/"}
