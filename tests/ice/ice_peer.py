"""A ZeroC Ice 3.7 peer for ice_live_test, with Ice for Python and no
generated code (Ice.Blobject, ice_invoke).

  ice_peer.py server          an echo server (the reply carries the
                              request's encapsulation back) on a free
                              loopback port; prints "READY <port>", then
                              "ONEWAY <operation>" for each one-way request
                              and "CONTEXT k=v" for a request with a context,
                              and "RECEIVED request <operation> <status>" and
                              "SENT reply <status>" for each request received
                              and reply sent, <status> being the message's
                              compression status (from Ice's protocol trace).
                              Runs until SIGTERM or stdin closes.
  ice_peer.py client <port>   calls the irpc echo server at <port>: an echo,
                              ice_ping, a compressed echo, a one-way
                              request, an echo with a context, "zecho" (the
                              irpc server compresses its reply unasked: the
                              reply must come with status 2), then closes
                              (CloseConnection); prints a line a step and
                              "DONE"; exits 1 on the first failure.
"""
import signal
import struct
import sys
import threading

import Ice


class Tracer(Ice.Logger):
    """Reads Ice's protocol trace: the compression status of each request
    and reply, as it went on the wire."""

    def __init__(self):
        Ice.Logger.__init__(self)
        self.replies = []

    def trace(self, category, message):
        lines = message.split("\n")
        what = lines[0].strip()
        fields = dict(l.split(" = ", 1) for l in lines[1:] if " = " in l)
        cstat = fields.get("compression status", "?").split(" ")[0]
        if what == "received request":
            print("RECEIVED request", fields.get("operation"), cstat, flush=True)
        elif what == "sending reply":
            print("SENT reply", cstat, flush=True)
        elif what == "received reply":
            self.replies.append(int(cstat))

    def _print(self, message):
        pass

    def warning(self, message):
        print("WARNING", message, file=sys.stderr, flush=True)

    def error(self, message):
        print("ERROR", message, file=sys.stderr, flush=True)

    def getPrefix(self):
        return ""

    def cloneWithPrefix(self, prefix):
        return self


def initialize(tracer):
    init = Ice.InitializationData()
    init.properties = Ice.createProperties(sys.argv)
    init.properties.setProperty("Ice.Trace.Protocol", "1")
    init.logger = tracer
    return Ice.initialize(init)


def encaps(body):
    return struct.pack("<i", len(body) + 6) + b"\x01\x01" + body


class Echo(Ice.Blobject):
    def ice_invoke(self, in_params, current):
        if current.requestId == 0:
            print("ONEWAY", current.operation, flush=True)
        for k, v in sorted(current.ctx.items()):
            print("CONTEXT %s=%s" % (k, v), flush=True)
        return (True, in_params)


def server():
    with initialize(Tracer()) as ic:
        adapter = ic.createObjectAdapterWithEndpoints("Echo", "tcp -h 127.0.0.1 -p 0")
        adapter.add(Echo(), Ice.stringToIdentity("echo"))
        adapter.activate()
        port = adapter.getEndpoints()[0].getInfo().port
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: done.set())
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        print("READY", port, flush=True)
        while not done.wait(0.2):
            pass
        # Stopping: a SIGTERM that comes now (the test closes stdin, then
        # signals) must not kill the interpreter while it shuts down.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def client(port):
    tracer = Tracer()
    with initialize(tracer) as ic:
        p = ic.stringToProxy("echo:tcp -h 127.0.0.1 -p %d -t 10000" % port)
        small = encaps(b"\x03abc")
        ok, out = p.ice_invoke("echo", Ice.OperationMode.Normal, small)
        assert ok and out == small, (ok, out)
        print("ECHO OK", flush=True)
        p.ice_ping()
        print("PING OK", flush=True)
        big = encaps(b"\xff" + struct.pack("<i", 300) + bytes(range(100)) * 3)
        ok, out = p.ice_compress(True).ice_invoke("echo", Ice.OperationMode.Normal, big)
        assert ok and out == big
        print("COMPRESSED OK", flush=True)
        p.ice_oneway().ice_invoke("note", Ice.OperationMode.Normal, encaps(b""))
        print("ONEWAY SENT", flush=True)
        ok, out = p.ice_invoke("echo", Ice.OperationMode.Idempotent, small, {"k": "v"})
        assert ok and out == small
        print("CONTEXT OK", flush=True)
        ok, out = p.ice_invoke("zecho", Ice.OperationMode.Normal, big)
        assert ok and out == big
        assert tracer.replies[-1] == 2, tracer.replies
        print("ZECHO OK", flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    try:
        if sys.argv[1] == "server":
            server()
        else:
            client(int(sys.argv[2]))
    except Exception as e:  # the test reads why
        print("FAILED", repr(e), flush=True)
        sys.exit(1)
