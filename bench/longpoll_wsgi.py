# longpoll_wsgi.py -- the peer of apps/chat.so's long-poll for
# bench/bench-comet.sh, under gunicorn's eventlet worker (Spawning's model):
#   gunicorn -k eventlet --worker-connections 20000 -b 127.0.0.1:PORT \
#            --chdir bench longpoll_wsgi:app
# GET: wait (up to ?timeout= seconds, default 30) for the next publish and
# answer it as JSON. POST: publish the body to every waiter, answer its id.
import json
from urllib.parse import parse_qs

import eventlet.event

state = {"event": eventlet.event.Event(), "id": 0}


def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n).decode("utf-8", "replace")
        state["id"] += 1
        event, state["event"] = state["event"], eventlet.event.Event()
        event.send({"id": state["id"], "data": body})
        out = {"id": state["id"]}
    else:
        timeout = float(parse_qs(environ.get("QUERY_STRING", "")).get("timeout", ["30"])[0])
        out = {"messages": [], "last": state["id"]}  # the answer on timeout
        with eventlet.Timeout(timeout, False):
            msg = state["event"].wait()
            out = {"messages": [msg], "last": msg["id"]}
    data = json.dumps(out).encode() + b"\n"
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]
